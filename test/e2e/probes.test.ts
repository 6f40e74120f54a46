// Probes on a real two-node cluster, driven by the real kubectl: an httpGet readiness probe turns a pod
// Ready, then NotReady when the served file goes away (and back); an exec liveness probe restarts a
// container; a tcpSocket probe on a closed port keeps a pod unready with the kubelet's event; status is not
// rewritten while nothing changes; hostname/subdomain land in /etc/hosts.
import { test, before, describe } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type Cluster, clusterFixture, skip, sleep } from './clusterkit.js';

const WEB = `apiVersion: v1
kind: Pod
metadata: {name: web}
spec:
  nodeSelector: {kubernetes.io/hostname: node1}
  terminationGracePeriodSeconds: 1
  containers:
  - name: main
    image: busybox
    command: ["sh", "-c", "mkdir -p /www && echo up > /www/ready.html && exec httpd -f -p 8080 -h /www"]
    ports: [{name: http, containerPort: 8080}]
    readinessProbe:
      httpGet: {path: /ready.html, port: http}
      periodSeconds: 1
      failureThreshold: 1
`;

const LIVE = `apiVersion: v1
kind: Pod
metadata: {name: live}
spec:
  nodeSelector: {kubernetes.io/hostname: node2}
  terminationGracePeriodSeconds: 1
  containers:
  - name: main
    image: busybox
    command: ["sh", "-c", "touch /tmp/alive; exec sleep 3600"]
    livenessProbe:
      exec: {command: ["test", "-e", "/tmp/alive"]}
      periodSeconds: 1
      failureThreshold: 2
`;

const CLOSED = `apiVersion: v1
kind: Pod
metadata: {name: closed}
spec:
  terminationGracePeriodSeconds: 1
  hostname: db-0
  subdomain: db
  containers:
  - name: main
    image: busybox
    command: ["sleep", "3600"]
    readinessProbe:
      tcpSocket: {port: 5432}
      periodSeconds: 1
`;

describe('probes on a real cluster with the real kubectl', { skip }, () => {
  const get = clusterFixture(`pr${process.pid % 10000}`);
  let c: Cluster;
  before(() => (c = get()));
  /** The agents' last log lines, for a failure message. */
  const logs = () => ['agent-node1', 'agent-node2'].map((n) => {
    try {
      return `--- ${n}\n${readFileSync(join(c.home, c.name, 'logs', `${n}.log`), 'utf8').split('\n').slice(-30).join('\n')}`;
    } catch {
      return '';
    }
  }).join('\n');

  const jp = async (pod: string, path: string) => (await c.ok(['get', 'pod', pod, '-o', `jsonpath=${path}`])).trim();
  const waitFor = async (what: string, f: () => Promise<boolean>, ms = 30_000) => {
    const end = Date.now() + ms;
    while (Date.now() < end) {
      if (await f()) return;
      await sleep(100);
    }
    assert.fail(`timed out waiting for ${what}\n${(await c.k(['describe', 'pods'])).stdout}\n${logs()}`);
  };
  const ready = (pod: string) => jp(pod, '{.status.conditions[?(@.type=="Ready")].status}');
  const events = async (pod: string) => (await c.ok(['get', 'events', '--field-selector', `involvedObject.name=${pod}`, '-o', 'json']));

  test('an httpGet readiness probe: Ready when the file is served, NotReady within a period when it is removed, Ready again', async () => {
    await c.ok(['apply', '-f', '-'], WEB);
    await c.ok(['wait', '--for=condition=Ready', 'pod/web', '--timeout=60s']);
    assert.equal(await jp('web', '{.status.containerStatuses[0].ready}'), 'true');
    assert.equal(await jp('web', '{.status.conditions[?(@.type=="ContainersReady")].status}'), 'True');
    // Nothing changes while the probe keeps passing: no status write.
    const rv = await jp('web', '{.metadata.resourceVersion}');
    await sleep(3000);
    assert.equal(await jp('web', '{.metadata.resourceVersion}'), rv, 'the status was rewritten although nothing changed');

    const t0 = Date.now();
    await c.ok(['exec', 'web', '--', 'rm', '/www/ready.html']);
    await waitFor('web to turn NotReady', async () => (await ready('web')) === 'False', 15_000);
    const took = Date.now() - t0;
    assert.ok(took < 5000, `NotReady took ${took} ms with periodSeconds 1`);
    assert.equal(await jp('web', '{.status.containerStatuses[0].ready}'), 'false');
    assert.equal(await jp('web', '{.status.containerStatuses[0].started}'), 'true');
    assert.equal(await jp('web', '{.status.phase}'), 'Running');
    assert.match(await c.ok(['get', 'pod', 'web']), /web\s+0\/1\s+Running/);
    await waitFor('the Unhealthy event', async () => (await events('web')).includes('Readiness probe failed: HTTP probe failed with statuscode: 404'));

    await c.ok(['exec', 'web', '--', 'sh', '-c', 'echo up > /www/ready.html']);
    await waitFor('web to be Ready again', async () => (await ready('web')) === 'True', 15_000);
    assert.equal(await jp('web', '{.status.containerStatuses[0].restartCount}'), '0', 'readiness never restarts');
  });

  test('an exec liveness probe restarts the container when it fails', async () => {
    await c.ok(['apply', '-f', '-'], LIVE);
    await c.ok(['wait', '--for=condition=Ready', 'pod/live', '--timeout=60s']);
    const first = await jp('live', '{.status.containerStatuses[0].containerID}');
    await sleep(2500);
    assert.equal(await jp('live', '{.status.containerStatuses[0].restartCount}'), '0', 'a passing liveness probe leaves the container alone');
    await c.ok(['exec', 'live', '--', 'rm', '/tmp/alive']);
    await waitFor('the restart', async () => Number(await jp('live', '{.status.containerStatuses[0].restartCount}')) >= 1, 30_000);
    await c.ok(['wait', '--for=condition=Ready', 'pod/live', '--timeout=60s']);
    assert.notEqual(await jp('live', '{.status.containerStatuses[0].containerID}'), first);
    assert.equal(await jp('live', '{.status.containerStatuses[0].lastState.terminated.exitCode}'), '137');
    const ev = await events('live');
    assert.match(ev, /Liveness probe failed: /);
    assert.match(ev, /Container main failed liveness probe, will be restarted/);
    // The new container has /tmp/alive again: it stays up.
    await sleep(3000);
    assert.equal(await jp('live', '{.status.containerStatuses[0].restartCount}'), '1');
  });

  test('a tcpSocket probe on a closed port keeps the pod unready; hostname and subdomain are in /etc/hosts', async () => {
    await c.ok(['apply', '-f', '-'], CLOSED);
    await waitFor('the container to run', async () => (await jp('closed', '{.status.containerStatuses[0].state.running.startedAt}')) !== '');
    const ip = await jp('closed', '{.status.podIP}');
    await waitFor('the Unhealthy event', async () => (await events('closed')).includes(`Readiness probe failed: dial tcp ${ip}:5432: connect: connection refused`));
    assert.equal(await ready('closed'), 'False');
    assert.equal(await jp('closed', '{.status.conditions[?(@.type=="Ready")].reason}'), 'ContainersNotReady');
    assert.equal(await jp('closed', '{.status.conditions[?(@.type=="Ready")].message}'), 'containers with unready status: [main]');
    const hosts = await c.ok(['exec', 'closed', '--', 'cat', '/etc/hosts']);
    assert.match(hosts, new RegExp(`^${ip.replace(/\./g, '\\.')}\\tdb-0\\.db\\.default\\.svc\\.cluster\\.local\\tdb-0$`, 'm'));
    assert.equal((await c.ok(['exec', 'closed', '--', 'hostname'])).trim(), 'db-0');
    await c.ok(['delete', 'pod', 'closed', 'web', 'live', '--grace-period=1', '--timeout=60s']);
  });
});
