// Deployments, ReplicaSets, ReplicationControllers and garbage collection on a real three-node cluster,
// driven by the real kubectl (1.32, and the key commands with 1.27 and 1.33) and the official clients:
// create → pods run, a deleted pod is replaced, a rolling update watched to stay within its bounds, rollout
// status/history/undo/pause/resume/restart, scale through /scale, Recreate, cascade background/foreground/
// orphan, and a server killed mid-rollout that loses nothing and makes no extra pod.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as k8s from '@kubernetes/client-node';
import { type Cluster, clusterFixture, restartLabProcess, skip, until } from './clusterkit.js';
import { kubectlBinary } from './harness.js';
import { configFromKubeconfig, RestClient } from '../../src/client/rest.js';
import { PODS } from '../../src/api/kinds.js';
import type { Pod } from '../../src/api/types.js';

const json = async <T>(c: Cluster, args: string[]): Promise<T> => JSON.parse(await c.ok([...args, '-o', 'json'])) as T;
type Items<T> = { items: T[] };
const isReady = (p: Pod) => !!p.status?.conditions?.some((x) => x.type === 'Ready' && x.status === 'True');

/** Watches the namespace's pods and records the extremes a rollout must keep within. */
function podBounds(c: Cluster, ns: string): { stop(): { maxPods: number; minReady: number; created: number } } {
  const rc = new RestClient(configFromKubeconfig(c.kubeconfig));
  const pods = new Map<string, Pod>();
  let maxPods = 0;
  let minReady = Infinity;
  let created = 0;
  let watch: { close(): void } | undefined;
  let primed = false;
  const count = () => {
    const live = [...pods.values()].filter((p) => !p.metadata.deletionTimestamp);
    maxPods = Math.max(maxPods, live.length);
    if (primed) minReady = Math.min(minReady, live.filter(isReady).length);
  };
  void (async () => {
    const l = await rc.list(PODS, ns);
    for (const p of l.items) pods.set(p.metadata.uid!, p);
    primed = true;
    count();
    watch = await rc.watch(PODS, ns, l.resourceVersion, {
      onEvent(type, p) {
        if (type === 'DELETED') pods.delete(p.metadata.uid!);
        else {
          if (!pods.has(p.metadata.uid!) && type === 'ADDED') created++;
          pods.set(p.metadata.uid!, p);
        }
        count();
      },
      onError() {},
    });
  })();
  return {
    stop() {
      watch?.close();
      rc.close();
      return { maxPods, minReady, created };
    },
  };
}

describe('workloads on a real cluster', { skip }, () => {
  const cluster = clusterFixture('wl', ['--nodes', '3']);

  test('kubectl create deployment: pods run on the nodes; a deleted pod is replaced; scale through /scale', async () => {
    const c = cluster();
    await c.ok(['create', 'namespace', 'wl1']);
    await c.ok(['-n', 'wl1', 'create', 'deployment', 'web', '--image=busybox', '--replicas=3', '--', 'httpd', '-f', '-p', '8080']);
    const out = await c.ok(['-n', 'wl1', 'rollout', 'status', 'deployment/web', '--timeout=120s']);
    assert.match(out, /deployment "web" successfully rolled out/);
    const pods = await json<Items<Pod>>(c, ['-n', 'wl1', 'get', 'pods', '-l', 'app=web']);
    assert.equal(pods.items.length, 3);
    assert.ok(pods.items.every((p) => p.status?.phase === 'Running' && p.spec?.nodeName));
    const gone = pods.items[0].metadata.name!;
    await c.ok(['-n', 'wl1', 'delete', 'pod', gone, '--wait=false']);
    await until(
      'replacement running',
      async () => {
        const now = (await json<Items<Pod>>(c, ['-n', 'wl1', 'get', 'pods', '-l', 'app=web'])).items.filter((p) => !p.metadata.deletionTimestamp);
        return now.length === 3 && !now.some((p) => p.metadata.name === gone) && now.every((p) => p.status?.phase === 'Running');
      },
      60_000,
    );
    await c.ok(['-n', 'wl1', 'scale', 'deployment/web', '--replicas=5']);
    await c.ok(['-n', 'wl1', 'rollout', 'status', 'deployment/web', '--timeout=120s']);
    const table = await c.ok(['-n', 'wl1', 'get', 'deploy,rs']);
    assert.match(table, /deployment\.apps\/web\s+5\/5\s+5\s+5/);
    assert.match(table, /replicaset\.apps\/web-[a-z0-9]+\s+5\s+5\s+5/);
    // Bad input is refused naming the field.
    const bad = await c.k(['-n', 'wl1', 'scale', 'deployment/web', '--replicas=-1']);
    assert.notEqual(bad.code, 0);
    const zero = await c.k(['-n', 'wl1', 'patch', 'deployment/web', '-p', '{"spec":{"strategy":{"rollingUpdate":{"maxSurge":0,"maxUnavailable":0}}}}']);
    assert.notEqual(zero.code, 0);
    assert.match(
      zero.stderr,
      /spec\.strategy\.rollingUpdate\.maxUnavailable: Invalid value: intstr\.IntOrString\{Type:0, IntVal:0, StrVal:""\}: may not be 0 when `maxSurge` is 0/,
    );
    const sel = await c.k(['-n', 'wl1', 'patch', 'deployment/web', '-p', '{"spec":{"selector":{"matchLabels":{"app":"x"}}}}']);
    assert.match(sel.stderr, /spec\.selector: Invalid value: .*field is immutable/);
  });

  test('rolling update with set image stays within maxSurge/maxUnavailable; history, undo, pause, resume, restart', async () => {
    const c = cluster();
    await c.ok(['create', 'namespace', 'wl2']);
    await c.ok(['-n', 'wl2', 'create', 'deployment', 'roll', '--image=busybox', '--replicas=4', '--', 'sleep', '3600']);
    await c.ok(['-n', 'wl2', 'annotate', 'deployment/roll', 'kubernetes.io/change-cause=first']);
    await c.ok(['-n', 'wl2', 'rollout', 'status', 'deployment/roll', '--timeout=120s']);
    const bounds = podBounds(c, 'wl2');
    await c.ok(['-n', 'wl2', 'set', 'image', 'deployment/roll', 'busybox=busybox:1.36']);
    await c.ok(['-n', 'wl2', 'annotate', '--overwrite', 'deployment/roll', 'kubernetes.io/change-cause=to 1.36']);
    const status = await c.ok(['-n', 'wl2', 'rollout', 'status', 'deployment/roll', '--timeout=180s']);
    assert.match(status, /successfully rolled out/);
    const b = bounds.stop();
    // 4 replicas at 25 %/25 %: surge 1 (rounded up), unavailable 1 (rounded down).
    assert.ok(b.maxPods <= 5, `at most 5 pods: ${b.maxPods}`);
    assert.ok(b.minReady >= 3, `at least 3 ready: ${b.minReady}`);
    // rollout status returned exactly when the rollout was complete.
    const d = await json<{ metadata: { generation: number }; status: Record<string, number> }>(c, ['-n', 'wl2', 'get', 'deploy/roll']);
    assert.equal(d.status.updatedReplicas, 4);
    assert.equal(d.status.availableReplicas, 4);
    assert.ok(d.status.observedGeneration >= d.metadata.generation);

    const hist = await c.ok(['-n', 'wl2', 'rollout', 'history', 'deployment/roll']);
    assert.match(hist, /1\s+first/);
    assert.match(hist, /2\s+to 1\.36/);
    await c.ok(['-n', 'wl2', 'rollout', 'undo', 'deployment/roll', '--to-revision=1']);
    await c.ok(['-n', 'wl2', 'rollout', 'status', 'deployment/roll', '--timeout=180s']);
    assert.equal((await c.ok(['-n', 'wl2', 'get', 'deploy/roll', '-o', 'jsonpath={.spec.template.spec.containers[0].image}'])).trim(), 'busybox');
    assert.match(await c.ok(['-n', 'wl2', 'rollout', 'history', 'deployment/roll']), /3\s+first/);

    await c.ok(['-n', 'wl2', 'rollout', 'pause', 'deployment/roll']);
    await c.ok(['-n', 'wl2', 'set', 'image', 'deployment/roll', 'busybox=busybox:1.35']);
    await new Promise((r) => setTimeout(r, 1500));
    const rsPaused = await json<Items<unknown>>(c, ['-n', 'wl2', 'get', 'rs']);
    assert.equal(rsPaused.items.length, 2, 'no new ReplicaSet while paused');
    await c.ok(['-n', 'wl2', 'rollout', 'resume', 'deployment/roll']);
    await c.ok(['-n', 'wl2', 'rollout', 'status', 'deployment/roll', '--timeout=180s']);
    await c.ok(['-n', 'wl2', 'rollout', 'restart', 'deployment/roll']);
    await c.ok(['-n', 'wl2', 'rollout', 'status', 'deployment/roll', '--timeout=180s']);
    const restarted = await c.ok([
      '-n',
      'wl2',
      'get',
      'rs',
      '-o',
      'jsonpath={range .items[*]}{.spec.replicas} {.spec.template.metadata.annotations.kubectl\\.kubernetes\\.io/restartedAt}{"\\n"}{end}',
    ]);
    assert.ok(
      restarted.split('\n').some((l) => /^4 \d{4}-/.test(l)),
      restarted,
    );
  });

  test('Recreate: old pods are gone before new ones are made', async () => {
    const c = cluster();
    await c.ok(['create', 'namespace', 'wl3']);
    await c.ok(['-n', 'wl3', 'create', 'deployment', 'rec', '--image=busybox', '--replicas=2', '--', 'sleep', '3600']);
    await c.ok(['-n', 'wl3', 'patch', 'deployment/rec', '-p', '{"spec":{"strategy":{"type":"Recreate","rollingUpdate":null}}}']);
    await c.ok(['-n', 'wl3', 'rollout', 'status', 'deployment/rec', '--timeout=120s']);
    const rc = new RestClient(configFromKubeconfig(c.kubeconfig));
    const seen = new Map<string, Pod>();
    let overlap = false;
    const l = await rc.list(PODS, 'wl3');
    for (const p of l.items) seen.set(p.metadata.uid!, p);
    const w = await rc.watch(PODS, 'wl3', l.resourceVersion, {
      onEvent(type, p) {
        if (type === 'DELETED') seen.delete(p.metadata.uid!);
        else seen.set(p.metadata.uid!, p);
        if (new Set([...seen.values()].map((x) => x.spec!.containers[0].image)).size > 1) overlap = true;
      },
      onError() {},
    });
    try {
      await c.ok(['-n', 'wl3', 'set', 'image', 'deployment/rec', 'busybox=busybox:1.36']);
      await c.ok(['-n', 'wl3', 'rollout', 'status', 'deployment/rec', '--timeout=180s']);
    } finally {
      w.close();
      rc.close();
    }
    assert.equal(overlap, false, 'an old and a new pod existed together');
  });

  test('cascading deletion: background, foreground, orphan; a ReplicationController scaled through /scale', async () => {
    const c = cluster();
    await c.ok(['create', 'namespace', 'wl4']);
    for (const n of ['bg', 'fg', 'or']) await c.ok(['-n', 'wl4', 'create', 'deployment', n, '--image=busybox', '--replicas=2', '--', 'sleep', '3600']);
    for (const n of ['bg', 'fg', 'or']) await c.ok(['-n', 'wl4', 'rollout', 'status', `deployment/${n}`, '--timeout=120s']);
    await c.ok(['-n', 'wl4', 'delete', 'deployment', 'bg']);
    await c.ok(['-n', 'wl4', 'delete', 'deployment', 'fg', '--cascade=foreground']);
    // --cascade=foreground waits: when kubectl returns, the pods and ReplicaSet are gone already.
    assert.equal((await json<Items<Pod>>(c, ['-n', 'wl4', 'get', 'pods', '-l', 'app=fg'])).items.filter((p) => !p.metadata.deletionTimestamp).length, 0);
    assert.equal((await json<Items<unknown>>(c, ['-n', 'wl4', 'get', 'rs', '-l', 'app=fg'])).items.length, 0);
    await c.ok(['-n', 'wl4', 'delete', 'deployment', 'or', '--cascade=orphan']);
    await until('background: pods gone', async () => (await json<Items<Pod>>(c, ['-n', 'wl4', 'get', 'pods', '-l', 'app=bg'])).items.length === 0, 60_000);
    const orphans = await json<Items<{ metadata: { ownerReferences?: unknown[] } }>>(c, ['-n', 'wl4', 'get', 'rs', '-l', 'app=or']);
    assert.equal(orphans.items.length, 1);
    assert.equal(orphans.items[0].metadata.ownerReferences, undefined);
    assert.equal((await json<Items<Pod>>(c, ['-n', 'wl4', 'get', 'pods', '-l', 'app=or'])).items.length, 2);

    await c.ok(
      ['-n', 'wl4', 'apply', '-f', '-'],
      `apiVersion: v1
kind: ReplicationController
metadata: {name: legacy}
spec:
  replicas: 1
  template:
    metadata: {labels: {app: legacy}}
    spec:
      terminationGracePeriodSeconds: 1
      containers: [{name: c, image: busybox, command: [sleep, "3600"]}]
`,
    );
    await c.ok(['-n', 'wl4', 'scale', 'rc/legacy', '--replicas=3']);
    await until('rc 3 ready', async () => (await c.ok(['-n', 'wl4', 'get', 'rc', 'legacy', '-o', 'jsonpath={.status.readyReplicas}'])).trim() === '3', 90_000);
    assert.match(await c.ok(['-n', 'wl4', 'get', 'rc', 'legacy']), /legacy\s+3\s+3\s+3/);
  });

  test('the server killed in the middle of a rollout: the rollout finishes, no pod too many', async () => {
    const c = cluster();
    await c.ok(['create', 'namespace', 'wl5']);
    await c.ok(['-n', 'wl5', 'create', 'deployment', 'ha', '--image=busybox', '--replicas=6', '--', 'sleep', '3600']);
    await c.ok(['-n', 'wl5', 'rollout', 'status', 'deployment/ha', '--timeout=120s']);
    await c.ok(['-n', 'wl5', 'set', 'image', 'deployment/ha', 'busybox=busybox:1.36']);
    await until(
      'rollout under way',
      async () => (await json<Items<Pod>>(c, ['-n', 'wl5', 'get', 'pods'])).items.some((p) => p.spec?.containers[0].image === 'busybox:1.36'),
      30_000,
    );
    await restartLabProcess(c, 'server', async () => void (await new Promise((r) => setTimeout(r, 1000))));
    await until('server back', async () => (await c.k(['get', '--raw', '/readyz'])).code === 0, 60_000);
    const bounds = podBounds(c, 'wl5');
    await c.ok(['-n', 'wl5', 'rollout', 'status', 'deployment/ha', '--timeout=180s']);
    const b = bounds.stop();
    assert.ok(b.maxPods <= 8, `6 replicas with surge 2: at most 8 pods after the restart, saw ${b.maxPods}`);
    const pods = (await json<Items<Pod>>(c, ['-n', 'wl5', 'get', 'pods'])).items.filter((p) => !p.metadata.deletionTimestamp);
    assert.equal(pods.length, 6);
    assert.ok(pods.every((p) => p.spec?.containers[0].image === 'busybox:1.36'));
    const rss = await json<Items<{ spec: { replicas: number } }>>(c, ['-n', 'wl5', 'get', 'rs']);
    assert.equal(rss.items.length, 2, 'no ReplicaSet made twice');
  });

  test('kubectl 1.27 and 1.33: rollout status, history, undo, scale', async () => {
    const c = cluster();
    await c.ok(['create', 'namespace', 'wl6']);
    for (const v of ['1.27', '1.33']) {
      const bin = kubectlBinary(v);
      assert.ok(bin, `kubectl.${v} is installed`);
      const name = `v${v.replace('.', '')}`;
      const run = (args: string[]) => {
        const r = spawnSync(bin, ['-n', 'wl6', ...args], {
          env: { PATH: process.env.PATH!, HOME: `${c.home}/kubectl-home`, KUBECONFIG: c.kubeconfig },
          encoding: 'utf8',
          timeout: 200_000,
        });
        assert.equal(r.status, 0, `kubectl.${v} ${args.join(' ')}: ${r.stderr}`);
        return r.stdout;
      };
      run(['create', 'deployment', name, '--image=busybox', '--replicas=2', '--', 'sleep', '3600']);
      assert.match(run(['rollout', 'status', `deployment/${name}`, '--timeout=120s']), /successfully rolled out/);
      run(['set', 'image', `deployment/${name}`, 'busybox=busybox:1.36']);
      assert.match(run(['rollout', 'status', `deployment/${name}`, '--timeout=120s']), /successfully rolled out/);
      assert.match(run(['rollout', 'history', `deployment/${name}`]), /1\s+<none>\s*\n2\s+<none>/);
      run(['rollout', 'undo', `deployment/${name}`]);
      run(['rollout', 'status', `deployment/${name}`, '--timeout=120s']);
      run(['scale', `deployment/${name}`, '--replicas=3']);
      assert.match(run(['rollout', 'status', `deployment/${name}`, '--timeout=120s']), /successfully rolled out/);
      assert.equal(
        run(['get', `deployment/${name}`, '-o', 'jsonpath={.status.availableReplicas} {.spec.template.spec.containers[0].image}']).trim(),
        '3 busybox',
      );
    }
  });

  test('official clients: client-node and the Python client create and watch Deployments', async () => {
    const c = cluster();
    await c.ok(['create', 'namespace', 'wl7']);
    const kc = new k8s.KubeConfig();
    kc.loadFromFile(c.kubeconfig);
    const apps = kc.makeApiClient(k8s.AppsV1Api);
    const list = await apps.listNamespacedDeployment({ namespace: 'wl7' });
    let available!: () => void;
    const done = new Promise<void>((r) => (available = r));
    const watch = await new k8s.Watch(kc).watch(
      '/apis/apps/v1/namespaces/wl7/deployments',
      { resourceVersion: list.metadata?.resourceVersion },
      (_type: string, d: k8s.V1Deployment) => {
        if (d.metadata?.name === 'js' && d.status?.availableReplicas === 2) available();
      },
      () => {},
    );
    try {
      await apps.createNamespacedDeployment({
        namespace: 'wl7',
        body: {
          metadata: { name: 'js' },
          spec: {
            replicas: 2,
            selector: { matchLabels: { app: 'js' } },
            template: { metadata: { labels: { app: 'js' } }, spec: { containers: [{ name: 'c', image: 'busybox', command: ['sleep', '3600'] }] } },
          },
        },
      });
      await Promise.race([done, new Promise((_, rej) => setTimeout(() => rej(new Error('client-node: no available=2 event')), 120_000))]);
    } finally {
      watch.abort();
    }
    const py = `
import sys
from kubernetes import client, config, watch
config.load_kube_config(sys.argv[1])
apps = client.AppsV1Api()
body = client.V1Deployment(metadata=client.V1ObjectMeta(name="py"), spec=client.V1DeploymentSpec(
    replicas=2, selector=client.V1LabelSelector(match_labels={"app": "py"}),
    template=client.V1PodTemplateSpec(metadata=client.V1ObjectMeta(labels={"app": "py"}),
        spec=client.V1PodSpec(containers=[client.V1Container(name="c", image="busybox", command=["sleep", "3600"])]))))
rv = apps.list_namespaced_deployment("wl7").metadata.resource_version
apps.create_namespaced_deployment("wl7", body)
for ev in watch.Watch().stream(apps.list_namespaced_deployment, "wl7", resource_version=rv):
    d = ev["object"]
    if d.metadata.name == "py" and (d.status.available_replicas or 0) == 2:
        print("available", d.metadata.annotations.get("deployment.kubernetes.io/revision"))
        break
`;
    const r = spawnSync('/usr/bin/python3', ['-c', py, c.kubeconfig], { encoding: 'utf8', timeout: 150_000 });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.trim(), 'available 1');
  });
});
