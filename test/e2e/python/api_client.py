"""What a new user of the official Python client (Debian's python3-kubernetes) does first, against a k8ts
API server: list, create, read, patch (merge, strategic, JSON, apply), replace, delete, watch streams,
errors as ApiException, pagination, label selectors, dry run, the dynamic client. Each check prints one
line; the first failure raises, so the exit code tells the caller. Usage: api_client.py KUBECONFIG NS"""
import json
import sys
import threading
import time

from kubernetes import client, config, dynamic, watch
from kubernetes.client.rest import ApiException

kubeconfig, ns = sys.argv[1], sys.argv[2]
config.load_kube_config(config_file=kubeconfig)
api = client.ApiClient()
core = client.CoreV1Api(api)
apps = client.AppsV1Api(api)


def check(name, cond, detail=''):
    if not cond:
        raise AssertionError(f'{name}: {detail}')
    print(f'ok {name}')


def expect_error(name, fn, status, reason):
    try:
        fn()
    except ApiException as e:
        # Streamed requests (watch) hand the body over as bytes.
        text = e.body.decode() if isinstance(e.body, bytes) else e.body
        body = json.loads(text)
        check(name, e.status == status and body['reason'] == reason and body['code'] == status and body['kind'] == 'Status',
              f'{e.status} {e.body}')
        # metav1.Status as Go writes it: field order and the trailing newline.
        keys = list(body.keys())
        order = ['kind', 'apiVersion', 'metadata', 'status', 'message', 'reason', 'details', 'code']
        check(f'{name}: Status field order', keys == [k for k in order if k in body], keys)
        check(f'{name}: body ends with a newline', text.endswith('\n'), repr(text[-5:]))
        return body
    raise AssertionError(f'{name}: no ApiException')


# ---- namespaces and the first list ----
core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=ns)))
names = [n.metadata.name for n in core.list_namespace().items]
check('list namespaces', ns in names and 'default' in names, names)
check('version', client.VersionApi(api).get_code().major == '1')

# ---- pods: create, read, list with selectors, patch three ways, replace, delete ----
pod = client.V1Pod(
    metadata=client.V1ObjectMeta(name='py', labels={'app': 'py', 'tier': 'one'}),
    spec=client.V1PodSpec(containers=[client.V1Container(name='c', image='busybox', command=['sleep', '3600'],
                                                         ports=[client.V1ContainerPort(container_port=80, name='http')])]))
created = core.create_namespaced_pod(ns, pod)
check('create pod', created.metadata.uid and created.status.phase == 'Pending', created.status.phase)
check('defaults filled', created.spec.containers[0].image_pull_policy == 'Always' and created.spec.restart_policy == 'Always')
got = core.read_namespaced_pod('py', ns)
check('read pod', got.metadata.uid == created.metadata.uid)
lst = core.list_namespaced_pod(ns, label_selector='app=py,tier in (one,two)')
check('label selector', [p.metadata.name for p in lst.items] == ['py'])
check('field selector', [p.metadata.name for p in core.list_namespaced_pod(ns, field_selector='metadata.name=py').items] == ['py'])
check('list across namespaces', any(p.metadata.name == 'py' for p in core.list_pod_for_all_namespaces().items))

# Strategic merge patch (the client's default for a dict body): containers merge by name.
p = core.patch_namespaced_pod('py', ns, {'metadata': {'labels': {'tier': 'two'}},
                                         'spec': {'containers': [{'name': 'c', 'image': 'busybox:1.36'}]}})
check('strategic merge patch', p.metadata.labels['tier'] == 'two' and p.spec.containers[0].image == 'busybox:1.36'
      and p.spec.containers[0].ports[0].container_port == 80, p.spec.containers)
p = core.patch_namespaced_pod('py', ns, [{'op': 'add', 'path': '/metadata/annotations', 'value': {'k8ts.io/a': 'b'}}])
check('json patch', p.metadata.annotations == {'k8ts.io/a': 'b'})
p = core.patch_namespaced_pod('py', ns, {'metadata': {'annotations': None}})
check('removing the last annotation leaves none', p.metadata.annotations is None, p.metadata.annotations)

# ---- config maps: replace with a resourceVersion, conflicts, dry run, delete ----
cm = core.create_namespaced_config_map(ns, {'metadata': {'name': 'cfg'}, 'data': {'a': '1'}})
cm.data['a'] = '2'
cm2 = core.replace_namespaced_config_map('cfg', ns, cm)
check('replace', cm2.data == {'a': '2'})
cm.data['a'] = '3'
expect_error('stale replace is a Conflict', lambda: core.replace_namespaced_config_map('cfg', ns, cm), 409, 'Conflict')
dry = core.create_namespaced_config_map(ns, {'metadata': {'name': 'dry'}, 'data': {}}, dry_run='All')
check('dry-run create answers the object', dry.metadata.name == 'dry' and dry.data is None, dry.data)
expect_error('dry-run created nothing', lambda: core.read_namespaced_config_map('dry', ns), 404, 'NotFound')
st = core.delete_namespaced_config_map('cfg', ns)
check('delete', st.status == 'Success' or st.kind == 'ConfigMap', st)

# ---- errors ----
nf = expect_error('read a missing pod', lambda: core.read_namespaced_pod('nope', ns), 404, 'NotFound')
check('NotFound details', nf['details'] == {'name': 'nope', 'kind': 'pods'}, nf['details'])
expect_error('create twice', lambda: core.create_namespaced_pod(ns, pod), 409, 'AlreadyExists')
bad = client.V1Pod(metadata=client.V1ObjectMeta(name='Bad_Name'), spec=client.V1PodSpec(containers=[client.V1Container(name='c', image='busybox')]))
inv = expect_error('invalid name', lambda: core.create_namespaced_pod(ns, bad), 422, 'Invalid')
check('Invalid causes name the field', inv['details']['causes'][0]['field'] == 'metadata.name'
      and list(inv['details'].keys()) == ['name', 'kind', 'causes'], inv['details'])
check('cause field order', list(inv['details']['causes'][0].keys()) == ['reason', 'message', 'field'], inv['details']['causes'][0])
expect_error('namespace that does not exist', lambda: core.create_namespaced_config_map('no-such-ns', {'metadata': {'name': 'x'}}), 404, 'NotFound')

# ---- pagination ----
for i in range(5):
    core.create_namespaced_config_map(ns, {'metadata': {'name': f'page-{i}', 'labels': {'page': 'yes'}}})
seen, cont, pages = [], None, 0
while True:
    page = core.list_namespaced_config_map(ns, label_selector='page=yes', limit=2, _continue=cont)
    seen += [c.metadata.name for c in page.items]
    pages += 1
    cont = page.metadata._continue
    if not cont:
        break
check('pagination with limit and continue', seen == [f'page-{i}' for i in range(5)] and pages == 3, (seen, pages))

# ---- watch: the stream yields ADDED, MODIFIED, DELETED ----
rv = core.list_namespaced_config_map(ns).metadata.resource_version


def writer():
    time.sleep(0.3)
    core.create_namespaced_config_map(ns, {'metadata': {'name': 'watched'}, 'data': {'v': '1'}})
    core.patch_namespaced_config_map('watched', ns, {'data': {'v': '2'}})
    core.delete_namespaced_config_map('watched', ns)


threading.Thread(target=writer, daemon=True).start()
events = []
w = watch.Watch()
for ev in w.stream(core.list_namespaced_config_map, ns, resource_version=rv, timeout_seconds=20):
    if ev['object'].metadata.name != 'watched':
        continue
    events.append((ev['type'], ev['object'].data['v']))
    if ev['type'] == 'DELETED':
        w.stop()
check('watch stream', events == [('ADDED', '1'), ('MODIFIED', '2'), ('DELETED', '2')], events)

# Watch without a resourceVersion: the current state first, as synthetic ADDED events.
w = watch.Watch()
initial = []
for ev in w.stream(core.list_namespaced_pod, ns, timeout_seconds=5):
    initial.append((ev['type'], ev['object'].metadata.name))
    w.stop()
check('watch from now starts with the state', initial == [('ADDED', 'py')], initial)

# Bookmarks asked for with allow_watch_bookmarks (sent as "True"): accepted.
w = watch.Watch()
for ev in w.stream(core.list_namespaced_pod, ns, allow_watch_bookmarks=True, timeout_seconds=5):
    w.stop()
check('allow_watch_bookmarks=True accepted', True)

# A watch that cannot start is an ApiException with the Status, like any other request.
expect_error('watch from a malformed resourceVersion',
             lambda: list(watch.Watch().stream(core.list_namespaced_pod, ns, resource_version='not-a-number', timeout_seconds=3)),
             400, 'BadRequest')

# ---- apps/v1 and the scale subresource ----
dep = {'metadata': {'name': 'web', 'labels': {'app': 'web'}},
       'spec': {'replicas': 1, 'selector': {'matchLabels': {'app': 'web'}},
                'template': {'metadata': {'labels': {'app': 'web'}}, 'spec': {'containers': [{'name': 'w', 'image': 'busybox'}]}}}}
d = apps.create_namespaced_deployment(ns, dep)
check('create deployment', d.spec.strategy.type == 'RollingUpdate')
sc = apps.patch_namespaced_deployment_scale('web', ns, {'spec': {'replicas': 3}})
check('scale subresource', sc.spec.replicas == 3 and apps.read_namespaced_deployment('web', ns).spec.replicas == 3)

# ---- networking.k8s.io/v1: an IngressClass marked default, an Ingress that names none ----
net = client.NetworkingV1Api(api)
net.create_ingress_class({'metadata': {'name': f'{ns}-class', 'annotations': {'ingressclass.kubernetes.io/is-default-class': 'true'}},
                          'spec': {'controller': 'example.com/ingress'}})
ing = net.create_namespaced_ingress(ns, {'metadata': {'name': 'web'}, 'spec': {'rules': [{'host': 'web.example.com', 'http': {'paths': [
    {'path': '/', 'pathType': 'Prefix', 'backend': {'service': {'name': 'web', 'port': {'number': 80}}}}]}}]}})
check('ingress gets the default class', ing.spec.ingress_class_name == f'{ns}-class', ing.spec.ingress_class_name)
check('ingress backend port', ing.spec.rules[0].http.paths[0].backend.service.port.number == 80)
bad = expect_error('ingress without a pathType', lambda: net.create_namespaced_ingress(ns, {'metadata': {'name': 'bad'}, 'spec': {'rules': [
    {'http': {'paths': [{'path': '/', 'backend': {'service': {'name': 'web', 'port': {'number': 80}}}}]}}]}}), 422, 'Invalid')
check('the cause names pathType', bad['details']['causes'][0]['field'] == 'spec.rules[0].http.paths[0].pathType', bad['details'])
net.delete_namespaced_ingress('web', ns)
net.delete_ingress_class(f'{ns}-class')

# ---- server-side apply through the dynamic client, then a dry run that changes nothing ----
dyn = dynamic.DynamicClient(api)
cms = dyn.resources.get(api_version='v1', kind='ConfigMap')
body = {'apiVersion': 'v1', 'kind': 'ConfigMap', 'metadata': {'name': 'applied', 'namespace': ns}, 'data': {'k': 'v'}}
# 22.6's REST layer sends only a str body with the apply-patch+yaml content type (JSON is YAML).
a = cms.server_side_apply(body=json.dumps(body), name='applied', field_manager='python', namespace=ns)
check('server-side apply', a.data.k == 'v' and a.metadata.managedFields[0].manager == 'python')
body['metadata']['annotations'] = {}
again = cms.server_side_apply(body=json.dumps(body), name='applied', field_manager='python', namespace=ns, dry_run='All')
check('dry-run apply writes no empty annotations', 'annotations' not in again.metadata, again.metadata)
check('dynamic get', cms.get(name='applied', namespace=ns).data.k == 'v')

# ---- delete with propagation, then the namespace ----
core.delete_namespaced_pod('py', ns, grace_period_seconds=0)
expect_error('pod is gone', lambda: core.read_namespaced_pod('py', ns), 404, 'NotFound')
apps.delete_namespaced_deployment('web', ns, propagation_policy='Background')
core.delete_namespace(ns)
try:
    phase = core.read_namespace(ns).status.phase
except ApiException as e:
    phase = e.status
check('namespace being deleted', phase in ('Terminating', 404), phase)
print('PASS')
