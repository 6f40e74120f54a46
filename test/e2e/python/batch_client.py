"""The official Python client (Debian's python3-kubernetes) creates a Job and a CronJob through BatchV1Api,
watches the Job until the controller writes its status, and reads a 422 for a bad schedule.
Usage: batch_client.py KUBECONFIG NS"""
import sys

from kubernetes import client, config, watch
from kubernetes.client.rest import ApiException

kubeconfig, ns = sys.argv[1], sys.argv[2]
config.load_kube_config(config_file=kubeconfig)
api = client.ApiClient()
core = client.CoreV1Api(api)
batch = client.BatchV1Api(api)


def check(name, cond, detail=''):
    if not cond:
        raise AssertionError(f'{name}: {detail}')
    print(f'ok {name}')


core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=ns)))
# The pods stay active while they are looked at: a pod that has already finished has had its tracking
# finalizer taken off by the Job controller (with a pod started in ~0.2 s, before the list below).
container = client.V1Container(name='c', image='busybox', command=['sleep', '30'])
template = client.V1PodTemplateSpec(spec=client.V1PodSpec(restart_policy='Never', containers=[container], termination_grace_period_seconds=0))
job = batch.create_namespaced_job(ns, client.V1Job(metadata=client.V1ObjectMeta(name='py-job'),
                                                   spec=client.V1JobSpec(template=template, completions=2, parallelism=2)))
check('create job', job.spec.backoff_limit == 6 and job.spec.selector.match_labels['batch.kubernetes.io/controller-uid'] == job.metadata.uid)
w = watch.Watch()
active = None
for ev in w.stream(batch.list_namespaced_job, ns, resource_version=job.metadata.resource_version, timeout_seconds=30):
    if ev['type'] == 'MODIFIED' and ev['object'].status.active:
        active = ev['object'].status.active
        w.stop()
check('watch job status', active == 2, active)
pods = core.list_namespaced_pod(ns, label_selector='batch.kubernetes.io/job-name=py-job').items
check('job pods', len(pods) == 2 and all('batch.kubernetes.io/job-tracking' in (p.metadata.finalizers or []) for p in pods),
      [(p.metadata.name, p.status.phase, p.metadata.finalizers) for p in pods])
cj = batch.create_namespaced_cron_job(ns, client.V1CronJob(
    metadata=client.V1ObjectMeta(name='py-cron'),
    spec=client.V1CronJobSpec(schedule='@hourly',
                              job_template=client.V1JobTemplateSpec(spec=client.V1JobSpec(template=template)))))
check('create cronjob', cj.spec.concurrency_policy == 'Allow' and cj.spec.successful_jobs_history_limit == 3)
try:
    batch.create_namespaced_cron_job(ns, client.V1CronJob(
        metadata=client.V1ObjectMeta(name='py-bad'),
        spec=client.V1CronJobSpec(schedule='* * *', job_template=client.V1JobTemplateSpec(spec=client.V1JobSpec(template=template)))))
    check('bad schedule refused', False)
except ApiException as e:
    check('bad schedule refused', e.status == 422 and 'spec.schedule' in e.body, e.body)
