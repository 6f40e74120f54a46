# The official Python client (python3-kubernetes) creates and watches DaemonSets, StatefulSets and their
# ControllerRevisions on a k8ts server; prints "ok <step>" per step and PASS at the end.
import sys
from kubernetes import client, config, watch

config.load_kube_config(config_file=sys.argv[1])
ns = sys.argv[2]
core = client.CoreV1Api()
apps = client.AppsV1Api()
core.create_namespace({"metadata": {"name": ns}})

tmpl = lambda app: {"metadata": {"labels": {"app": app}}, "spec": {"containers": [{"name": "c", "image": "busybox", "command": ["sleep", "3600"]}]}}
ds = apps.create_namespaced_daemon_set(ns, {"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "py-ds"},
    "spec": {"selector": {"matchLabels": {"app": "py-ds"}}, "template": tmpl("py-ds")}})
assert ds.spec.update_strategy.type == "RollingUpdate", ds.spec.update_strategy
assert ds.spec.update_strategy.rolling_update.max_unavailable == 1
print("ok create daemonset")

sts = apps.create_namespaced_stateful_set(ns, {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "py-sts"},
    "spec": {"serviceName": "py-sts", "replicas": 2, "selector": {"matchLabels": {"app": "py-sts"}}, "template": tmpl("py-sts")}})
assert sts.spec.pod_management_policy == "OrderedReady"
print("ok create statefulset")

w = watch.Watch()
seen = None
for ev in w.stream(apps.list_namespaced_stateful_set, ns, timeout_seconds=30):
    o = ev["object"]
    if o.metadata.name == "py-sts" and o.status and o.status.update_revision:
        seen = o.status.update_revision
        w.stop()
assert seen and seen.startswith("py-sts-"), seen
print("ok watch statefulset status")

revs = apps.list_namespaced_controller_revision(ns, label_selector="app=py-sts")
assert [r.metadata.name for r in revs.items] == [seen], revs
assert revs.items[0].revision == 1
assert revs.items[0].metadata.owner_references[0].kind == "StatefulSet"
print("ok controllerrevisions")

pods = core.list_namespaced_pod(ns, label_selector="app=py-sts")
assert [p.metadata.name for p in pods.items] == ["py-sts-0"], [p.metadata.name for p in pods.items]
print("ok ordered: only py-sts-0 while it is not ready")

scale = apps.patch_namespaced_stateful_set_scale("py-sts", ns, {"spec": {"replicas": 1}})
assert scale.spec.replicas == 1
print("ok scale")

try:
    apps.create_namespaced_stateful_set(ns, {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "bad"},
        "spec": {"serviceName": "bad", "replicas": -1, "selector": {"matchLabels": {"app": "bad"}}, "template": tmpl("bad")}})
    raise SystemExit("negative replicas accepted")
except client.exceptions.ApiException as e:
    assert e.status == 422 and "spec.replicas" in e.body, e.body
print("ok 422 names spec.replicas")
print("PASS")
