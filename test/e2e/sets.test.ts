// DaemonSets and StatefulSets on a real three-node lab, driven by the real kubectl (1.32; key commands with
// 1.27 and 1.33): a DaemonSet on every node, a tainted node skipped until tolerated, a rolling update that
// `kubectl rollout status ds` follows; StatefulSet order watched (OrderedReady up, reverse down), the pods'
// DNS names through the headless Service from a busybox pod, a partitioned rolling update, rollout
// history/undo, and a server killed mid-rollout that creates no extra pod.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { type Cluster, clusterFixture, restartLabProcess, skip, until } from './clusterkit.js';
import { kubectlBinary } from './harness.js';
import { configFromKubeconfig, RestClient } from '../../src/client/rest.js';
import { PODS } from '../../src/api/kinds.js';
import type { Pod } from '../../src/api/types.js';

const json = async <T>(c: Cluster, args: string[]): Promise<T> => JSON.parse(await c.ok([...args, '-o', 'json'])) as T;
type Items<T> = { items: T[] };

function kubectlAt(c: Cluster, version: string, args: string[]): string {
  const bin = kubectlBinary(version);
  assert.ok(bin, `kubectl.${version} is not on this machine`);
  const r = spawnSync(bin, args, {
    encoding: 'utf8',
    env: { PATH: process.env.PATH!, HOME: `${c.home}/kubectl-${version}`, KUBECONFIG: c.kubeconfig },
    timeout: 180_000,
  });
  assert.equal(r.status, 0, `kubectl.${version} ${args.join(' ')}: ${r.stderr}${r.stdout}`);
  return r.stdout;
}

/** Pod ADDED/DELETED order in a namespace, from a watch. */
function podOrder(c: Cluster, ns: string): { added: string[]; deleted: string[]; stop(): void } {
  const rc = new RestClient(configFromKubeconfig(c.kubeconfig));
  const out = { added: [] as string[], deleted: [] as string[], stop: () => {} };
  let w: { close(): void } | undefined;
  const ready = (async () => {
    const l = await rc.list(PODS, ns).catch((e: unknown) => {
      out.added.push(`list failed: ${String(e)}`);
      throw e;
    });
    w = await rc.watch(PODS, ns, l.resourceVersion, {
      onEvent(type, p: Pod) {
        if (type === 'ADDED') out.added.push(p.metadata.name!);
        if (type === 'DELETED') out.deleted.push(p.metadata.name!);
      },
      onError() {},
    });
  })();
  ready.catch(() => {});
  out.stop = () => {
    void ready.then(
      () => w?.close(),
      () => {},
    );
    rc.close();
  };
  return out;
}

const DS = (image: string, tolerate = false) => `apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent, namespace: ds1}
spec:
  selector: {matchLabels: {app: agent}}
  template:
    metadata: {labels: {app: agent}}
    spec:
      terminationGracePeriodSeconds: 1
${tolerate ? '      tolerations: [{key: dedicated, operator: Exists, effect: NoSchedule}]\n' : ''}      containers:
      - name: main
        image: ${image}
        command: ["sleep", "3600"]
`;

const STS = (replicas: number, image = 'busybox') => `apiVersion: v1
kind: Service
metadata: {name: nginx, namespace: sts1}
spec:
  clusterIP: None
  selector: {app: web}
  ports: [{name: http, port: 8080}]
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: web, namespace: sts1}
spec:
  serviceName: nginx
  replicas: ${replicas}
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: main
        image: ${image}
        command: ["sh", "-c", "mkdir -p /www && echo $HOSTNAME > /www/index.html && exec httpd -f -p 8080 -h /www"]
        ports: [{name: http, containerPort: 8080}]
        readinessProbe: {tcpSocket: {port: 8080}, periodSeconds: 1}
`;

describe('DaemonSets and StatefulSets on a real cluster', { skip }, () => {
  const cluster = clusterFixture('dsss', ['--nodes', '3']);

  test('a DaemonSet runs on every node, skips a tainted node until tolerated, and rolls out an update', async () => {
    const c = cluster();
    await c.ok(['create', 'namespace', 'ds1']);
    await c.ok(['taint', 'node', 'node3', 'dedicated=db:NoSchedule']);
    await c.ok(['apply', '-f', '-'], DS('busybox'));
    const out = await c.ok(['-n', 'ds1', 'rollout', 'status', 'ds/agent', '--timeout=120s']);
    assert.match(out, /daemon set "agent" successfully rolled out/);
    const nodesOf = async () =>
      (await json<Items<Pod>>(c, ['-n', 'ds1', 'get', 'pods', '-l', 'app=agent'])).items
        .filter((p) => !p.metadata.deletionTimestamp)
        .map((p) => p.spec?.nodeName)
        .sort();
    assert.deepEqual(await nodesOf(), ['node1', 'node2']);
    const table = await c.ok(['-n', 'ds1', 'get', 'ds']);
    assert.match(table, /^NAME\s+DESIRED\s+CURRENT\s+READY\s+UP-TO-DATE\s+AVAILABLE\s+NODE SELECTOR\s+AGE\n/);
    assert.match(table, /\nagent\s+2\s+2\s+2\s+2\s+2\s+<none>\s+/);
    // Tolerating the taint: a new template, rolled out over all three nodes.
    await c.ok(['apply', '-f', '-'], DS('busybox:1.36', true));
    assert.match(await c.ok(['-n', 'ds1', 'rollout', 'status', 'ds/agent', '--timeout=180s']), /successfully rolled out/);
    assert.deepEqual(await nodesOf(), ['node1', 'node2', 'node3']);
    const pods = (await json<Items<Pod>>(c, ['-n', 'ds1', 'get', 'pods', '-l', 'app=agent'])).items;
    assert.ok(pods.every((p) => p.spec?.containers[0].image === 'busybox:1.36' && p.status?.phase === 'Running'));
    assert.match(await c.ok(['-n', 'ds1', 'rollout', 'history', 'ds/agent']), /REVISION\s+CHANGE-CAUSE\n1\s+<none>\n2\s+<none>/);
    assert.match(kubectlAt(c, '1.27', ['-n', 'ds1', 'rollout', 'status', 'ds/agent']), /successfully rolled out/);
    assert.match(kubectlAt(c, '1.33', ['-n', 'ds1', 'get', 'ds', 'agent']), /agent\s+3\s+3\s+3\s+3\s+3/);
    assert.match(await c.ok(['-n', 'ds1', 'get', 'controllerrevisions']), /agent-\w+\s+daemonset\.apps\/agent\s+2/);
    await c.ok(['taint', 'node', 'node3', 'dedicated-']);
  });

  test('a StatefulSet: ordered create and reverse delete (watched), DNS names, partitioned update, history and undo', async () => {
    const c = cluster();
    await c.ok(['create', 'namespace', 'sts1']);
    const order = podOrder(c, 'sts1');
    try {
      await c.ok(['apply', '-f', '-'], STS(3));
      assert.match(await c.ok(['-n', 'sts1', 'rollout', 'status', 'sts/web', '--timeout=180s']), /partitioned roll out complete: 3 new pods have been updated/);
      assert.deepEqual(order.added, ['web-0', 'web-1', 'web-2']);
      // web-1 was created only once web-0 was Ready: its creation is after web-0's Ready transition.
      const pods = (await json<Items<Pod>>(c, ['-n', 'sts1', 'get', 'pods'])).items;
      const readyAt = (n: string) =>
        Date.parse(pods.find((p) => p.metadata.name === n)!.status!.conditions!.find((x) => x.type === 'Ready')!.lastTransitionTime!);
      const createdAt = (n: string) => Date.parse(pods.find((p) => p.metadata.name === n)!.metadata.creationTimestamp!);
      assert.ok(createdAt('web-1') >= readyAt('web-0') - 1000 && createdAt('web-2') >= readyAt('web-1') - 1000);
      await c.ok(['-n', 'sts1', 'run', 'dig', '--image=busybox', '--restart=Never', '--', 'sleep', '3600']);
      await c.ok(['-n', 'sts1', 'wait', '--for=condition=Ready', 'pod/dig', '--timeout=120s']);
      const ns = await until(
        'web-0.nginx resolves',
        async () => {
          const r = await c.k(['-n', 'sts1', 'exec', 'dig', '--', 'nslookup', 'web-0.nginx.sts1.svc.cluster.local']);
          return r.code === 0 ? r.stdout : undefined;
        },
        60_000,
      );
      const ip0 = (await c.ok(['-n', 'sts1', 'get', 'pod', 'web-0', '-o', 'jsonpath={.status.podIP}'])).trim();
      assert.ok(ns?.includes(ip0), ns);
      // The short name through the pod's search path (the resolver wget uses): web-1.nginx answers as web-1.
      const page = await c.ok(['-n', 'sts1', 'exec', 'dig', '--', 'sh', '-c', 'timeout 5 wget -qO- http://web-1.nginx:8080/']);
      assert.equal(page.trim(), 'web-1');
      await c.ok(['-n', 'sts1', 'delete', 'pod', 'dig', '--wait=false']);

      // Partitioned update: only ordinals >= 2 move.
      await c.ok(['-n', 'sts1', 'patch', 'sts', 'web', '-p', '{"spec":{"updateStrategy":{"rollingUpdate":{"partition":2}}}}']);
      await c.ok(['-n', 'sts1', 'set', 'image', 'sts/web', 'main=busybox:1.36']);
      assert.match(await c.ok(['-n', 'sts1', 'rollout', 'status', 'sts/web', '--timeout=180s']), /partitioned roll out complete: 1 new pods have been updated/);
      const images = async () =>
        Object.fromEntries(
          (await json<Items<Pod>>(c, ['-n', 'sts1', 'get', 'pods', '-l', 'app=web'])).items.map((p) => [p.metadata.name, p.spec?.containers[0].image]),
        );
      assert.deepEqual(await images(), { 'web-0': 'busybox', 'web-1': 'busybox', 'web-2': 'busybox:1.36' });
      await c.ok(['-n', 'sts1', 'patch', 'sts', 'web', '-p', '{"spec":{"updateStrategy":{"rollingUpdate":{"partition":0}}}}']);
      assert.match(await c.ok(['-n', 'sts1', 'rollout', 'status', 'sts/web', '--timeout=180s']), /partitioned roll out complete: 3 new pods have been updated/);
      assert.deepEqual(await images(), { 'web-0': 'busybox:1.36', 'web-1': 'busybox:1.36', 'web-2': 'busybox:1.36' });
      assert.match(await c.ok(['-n', 'sts1', 'rollout', 'history', 'sts/web']), /REVISION\s+CHANGE-CAUSE\n1\s+<none>\n2\s+<none>/);
      assert.match(await c.ok(['-n', 'sts1', 'rollout', 'undo', 'sts/web']), /statefulset.apps\/web rolled back/);
      assert.match(kubectlAt(c, '1.33', ['-n', 'sts1', 'rollout', 'status', 'sts/web', '--timeout=180s']), /roll out complete: 3 new pods/);
      assert.deepEqual(await images(), { 'web-0': 'busybox', 'web-1': 'busybox', 'web-2': 'busybox' });
      assert.match(kubectlAt(c, '1.27', ['-n', 'sts1', 'rollout', 'history', 'sts/web']), /\n2\s+<none>\n3\s+<none>/);

      // Scale to 0: reverse order.
      order.deleted.length = 0;
      await c.ok(['-n', 'sts1', 'scale', 'sts/web', '--replicas=0']);
      await until('all gone', async () => (await json<Items<Pod>>(c, ['-n', 'sts1', 'get', 'pods', '-l', 'app=web'])).items.length === 0, 120_000);
      assert.deepEqual(
        order.deleted.filter((n) => n.startsWith('web-')),
        ['web-2', 'web-1', 'web-0'],
      );
    } finally {
      order.stop();
    }
  });

  test('killing the server in the middle of a StatefulSet rollout creates no extra pod', async () => {
    const c = cluster();
    await c.ok(['-n', 'sts1', 'scale', 'sts/web', '--replicas=3']);
    await c.ok(['-n', 'sts1', 'rollout', 'status', 'sts/web', '--timeout=180s']);
    await c.ok(['-n', 'sts1', 'set', 'image', 'sts/web', 'main=busybox:1.35']);
    await until(
      'rollout under way',
      async () =>
        Object.values((await json<Items<Pod>>(c, ['-n', 'sts1', 'get', 'pods', '-l', 'app=web'])).items).some(
          (p) => p.spec?.containers[0].image === 'busybox:1.35',
        ),
      60_000,
    );
    await restartLabProcess(c, 'server');
    await until('server back', async () => (await c.k(['get', '--raw', '/readyz'])).code === 0, 60_000);
    const order = podOrder(c, 'sts1');
    try {
      assert.match(await c.ok(['-n', 'sts1', 'rollout', 'status', 'sts/web', '--timeout=240s']), /roll out complete: 3 new pods/);
      const pods = (await json<Items<Pod>>(c, ['-n', 'sts1', 'get', 'pods', '-l', 'app=web'])).items;
      assert.deepEqual(pods.map((p) => p.metadata.name).sort(), ['web-0', 'web-1', 'web-2']);
      assert.ok(pods.every((p) => p.spec?.containers[0].image === 'busybox:1.35'));
      // Every pod made after the restart replaced one that was deleted: never two of one name.
      assert.ok(order.added.length <= 3 && new Set(order.added).size === order.added.length, order.added.join(','));
    } finally {
      order.stop();
    }
  });
});
