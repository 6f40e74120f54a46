// Probes on a real two-node cluster, driven by the real kubectl: an httpGet readiness probe turns a pod
// Ready, then NotReady when the served file goes away (and back); an exec liveness probe restarts a
// container; a tcpSocket probe on a closed port keeps a pod unready with the kubelet's event; status is not
// rewritten while nothing changes; hostname/subdomain land in /etc/hosts.
import { test, before, describe } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type Cluster, clusterFixture, skip, sleep } from './clusterkit.js';
import { parseExposition, sumOf, type Exposition } from '../../src/util/promtext.js';

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
  const logs = () =>
    ['agent-node1', 'agent-node2']
      .map((n) => {
        try {
          return `--- ${n}\n${readFileSync(join(c.home, c.name, 'logs', `${n}.log`), 'utf8')
            .split('\n')
            .slice(-30)
            .join('\n')}`;
        } catch {
          return '';
        }
      })
      .join('\n');

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
  const events = async (pod: string) => await c.ok(['get', 'events', '--field-selector', `involvedObject.name=${pod}`, '-o', 'json']);

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

  test("the agents' metrics after that work: probes, CNI ADD, runc, the pod start steps, proxy syncs and DNS queries", async () => {
    // A DNS query from a pod, through the cluster DNS service to a node's DNS server.
    const clusterIP = (await c.ok(['get', 'service', 'kubernetes', '-o', 'jsonpath={.spec.clusterIP}'])).trim();
    const ns = await c.k(['exec', 'web', '--', 'nslookup', 'kubernetes.default.svc.cluster.local']);
    assert.ok(ns.stdout.includes(`Address: ${clusterIP}`), ns.stdout + ns.stderr);
    const scrape = async (node: string): Promise<Exposition> => parseExposition(await c.ok(['get', '--raw', `/api/v1/nodes/${node}/proxy/metrics`]));
    let both: Exposition[] = [];
    const total = (name: string, match: Record<string, string> = {}) => both.reduce((n, e) => n + sumOf(e, name, match), 0);
    await waitFor('the DNS query counted', async () => {
      both = await Promise.all(['node1', 'node2'].map(scrape));
      return total('coredns_dns_requests_total', { zone: 'cluster.local.', type: 'A', proto: 'udp', family: '1' }) >= 1;
    });
    const [n1, n2] = both;
    assert.ok(total('coredns_dns_request_duration_seconds_count', { zone: 'cluster.local.', type: 'A' }) >= 1);
    assert.ok(total('coredns_dns_responses_total', { zone: 'cluster.local.', rcode: 'NOERROR' }) >= 1);
    assert.equal(n1.types.get('coredns_dns_request_duration_seconds'), 'histogram');
    // web runs on node1 with an httpGet readiness probe, live on node2 with an exec liveness probe (failed once, above).
    assert.ok(sumOf(n1, 'prober_probe_total', { probe_type: 'Readiness', result: 'successful', namespace: 'default', pod: 'web', container: 'main' }) >= 1);
    assert.ok(
      sumOf(n1, 'prober_probe_total', { probe_type: 'Readiness', result: 'failed', pod: 'web' }) >= 1,
      'the readiness failure when the file was removed',
    );
    // The failures that restarted live went with the old container's worker (the kubelet deletes a worker's
    // series when it stops); the restarted container's probe counts afresh.
    await waitFor(
      "the restarted container's liveness probe counted",
      async () =>
        sumOf(await scrape('node2'), 'prober_probe_total', {
          probe_type: 'Liveness',
          result: 'successful',
          namespace: 'default',
          pod: 'live',
          container: 'main',
        }) >= 1,
    );
    assert.ok(sumOf(n1, 'prober_probe_duration_seconds_count', { probe_type: 'Readiness', pod: 'web' }) >= 1);
    for (const [node, e] of [
      ['node1', n1],
      ['node2', n2],
    ] as const) {
      assert.ok(sumOf(e, 'k8ts_cni_operation_duration_seconds_count', { operation: 'ADD' }) >= 1, `${node}: CNI ADD timed`);
      assert.ok(sumOf(e, 'kubelet_runtime_operations_duration_seconds_count', { operation_type: 'create_container' }) >= 1, `${node}: runc create timed`);
      assert.ok(sumOf(e, 'kubelet_runtime_operations_duration_seconds_count', { operation_type: 'list_containers' }) >= 1, `${node}: runc list timed`);
      for (const step of ['sandbox', 'volumes', 'image', 'network_ready', 'container']) {
        assert.ok(sumOf(e, 'k8ts_pod_start_step_duration_seconds_count', { step }) >= 1, `${node}: pod start step ${step} timed`);
      }
      assert.ok(sumOf(e, 'kubelet_pod_start_duration_seconds_count') >= 1, `${node}: a pod start measured`);
      assert.ok(sumOf(e, 'kubeproxy_sync_proxy_rules_duration_seconds_count') >= 1, `${node}: proxy synced`);
      assert.ok(sumOf(e, 'kubeproxy_sync_full_proxy_rules_duration_seconds_count') >= 1, `${node}: the first sync rewrote the table`);
      const last = sumOf(e, 'kubeproxy_sync_proxy_rules_last_timestamp_seconds');
      assert.ok(last > Date.now() / 1000 - 3600 && last <= Date.now() / 1000 + 5, `${node}: last sync at ${last}`);
      // The kubernetes and kube-dns Services at least, each with an endpoint, in map elements and chains.
      assert.ok(sumOf(e, 'k8ts_proxy_services') >= 2, `${node}: services ${sumOf(e, 'k8ts_proxy_services')}`);
      assert.ok(sumOf(e, 'k8ts_proxy_endpoints') >= 2, `${node}: endpoints`);
      assert.ok(sumOf(e, 'k8ts_proxy_nftables_elements') >= sumOf(e, 'k8ts_proxy_service_ports'), `${node}: table elements`);
      assert.ok(sumOf(e, 'kubeproxy_sync_proxy_rules_service_changes_total') >= 2, `${node}: service changes fed`);
    }
  });

  test('a tcpSocket probe on a closed port keeps the pod unready; hostname and subdomain are in /etc/hosts', async () => {
    await c.ok(['apply', '-f', '-'], CLOSED);
    await waitFor('the container to run', async () => (await jp('closed', '{.status.containerStatuses[0].state.running.startedAt}')) !== '');
    const ip = await jp('closed', '{.status.podIP}');
    await waitFor('the Unhealthy event', async () =>
      (await events('closed')).includes(`Readiness probe failed: dial tcp ${ip}:5432: connect: connection refused`),
    );
    assert.equal(await ready('closed'), 'False');
    assert.equal(await jp('closed', '{.status.conditions[?(@.type=="Ready")].reason}'), 'ContainersNotReady');
    assert.equal(await jp('closed', '{.status.conditions[?(@.type=="Ready")].message}'), 'containers with unready status: [main]');
    const hosts = await c.ok(['exec', 'closed', '--', 'cat', '/etc/hosts']);
    assert.match(hosts, new RegExp(`^${ip.replace(/\./g, '\\.')}\\tdb-0\\.db\\.default\\.svc\\.cluster\\.local\\tdb-0$`, 'm'));
    assert.equal((await c.ok(['exec', 'closed', '--', 'hostname'])).trim(), 'db-0');
    await c.ok(['delete', 'pod', 'closed', 'web', 'live', '--grace-period=1', '--timeout=60s']);
  });
});
