// The pod phase the agent posts, from its containers' states and the restart policy.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hostsFile, onlyStatusChanged, podHostname, podPhase, resolvConf, sameStatus } from './pods.js';
import type { Pod, PodSpec } from '../api/types.js';

const c = (o: Partial<Parameters<typeof podPhase>[0]>) => ({ total: 1, running: 0, terminated: 0, failed: 0, waiting: 0, restarted: false, ...o });

test('a pod whose containers all exited is finished only when nothing restarts them', () => {
  assert.equal(podPhase(c({ terminated: 1, failed: 1 }), 'Always'), 'Running');
  assert.equal(podPhase(c({ terminated: 1 }), 'Always'), 'Running');
  assert.equal(podPhase(c({ terminated: 1, failed: 1 }), 'OnFailure'), 'Running');
  assert.equal(podPhase(c({ terminated: 1 }), 'OnFailure'), 'Succeeded');
  assert.equal(podPhase(c({ terminated: 1, failed: 1 }), 'Never'), 'Failed');
  assert.equal(podPhase(c({ total: 2, terminated: 2 }), 'Never'), 'Succeeded');
});

test('running, waiting and restarted containers', () => {
  assert.equal(podPhase(c({ waiting: 1 }), 'Always'), 'Pending');
  assert.equal(podPhase(c({ running: 1 }), 'Always'), 'Running');
  assert.equal(podPhase(c({ total: 2, running: 1, waiting: 1 }), 'Never'), 'Running');
  assert.equal(podPhase(c({ waiting: 1, restarted: true }), 'Always'), 'Running', 'CrashLoopBackOff keeps a started pod Running');
  assert.equal(podPhase(c({ total: 0 }), 'Always'), 'Pending');
});

const HEAD =
  '# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n' +
  'fe00::0\tip6-localnet\nfe00::0\tip6-mcastprefix\nfe00::1\tip6-allnodes\nfe00::2\tip6-allrouters\n';

test('/etc/hosts names the pod; with a subdomain its FQDN comes first, as the kubelet writes it', () => {
  const pod = (spec: Omit<PodSpec, 'containers'>): Pod => ({ metadata: { name: 'web-7f9c', namespace: 'shop', uid: 'u' }, spec: { containers: [], ...spec } });
  assert.equal(hostsFile(pod({}), ['10.244.1.5'], 'cluster.local'), `${HEAD}10.244.1.5\tweb-7f9c\n`);
  assert.equal(hostsFile(pod({ hostname: 'web-0' }), ['10.244.1.5'], 'cluster.local'), `${HEAD}10.244.1.5\tweb-0\n`);
  assert.equal(
    hostsFile(pod({ hostname: 'web-0', subdomain: 'nginx' }), ['10.244.1.5'], 'cluster.local'),
    `${HEAD}10.244.1.5\tweb-0.nginx.shop.svc.cluster.local\tweb-0\n`,
  );
  assert.equal(
    hostsFile(pod({ subdomain: 'nginx', hostAliases: [{ ip: '10.1.2.3', hostnames: ['foo.remote', 'bar.remote'] }] }), ['10.244.1.5'], 'k8ts.test'),
    `${HEAD}10.244.1.5\tweb-7f9c.nginx.shop.svc.k8ts.test\tweb-7f9c\n\n# Entries added by HostAliases.\n10.1.2.3\tfoo.remote\tbar.remote\n`,
  );
});

test('a pod name longer than a hostname is cut to 63 characters without a trailing dash', () => {
  const long = `${'a'.repeat(62)}-bcd`;
  assert.deepEqual(podHostname({ metadata: { name: long, namespace: 'd' }, spec: { containers: [] } }, 'cluster.local'), { hostname: 'a'.repeat(62) });
});

test('resolv.conf: ClusterFirst, Default, None, and dnsConfig merged in', () => {
  const pod = (spec: Partial<PodSpec>): Pod => ({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'p', namespace: 'team' },
    spec: { containers: [], ...spec },
  });
  assert.equal(
    resolvConf(pod({}), '10.96.0.10', 'cluster.local'),
    'search team.svc.cluster.local svc.cluster.local cluster.local\nnameserver 10.96.0.10\noptions ndots:5\n',
  );
  assert.equal(resolvConf(pod({ dnsPolicy: 'Default' }), '10.96.0.10', 'cluster.local'), '\n');
  assert.equal(
    resolvConf(
      pod({
        dnsPolicy: 'None',
        dnsConfig: { nameservers: ['192.0.2.53'], searches: ['example.org'], options: [{ name: 'ndots', value: '2' }, { name: 'edns0' }] },
      }),
      '10.96.0.10',
      'cluster.local',
    ),
    'search example.org\nnameserver 192.0.2.53\noptions ndots:2 edns0\n',
  );
  assert.equal(
    resolvConf(
      pod({ dnsConfig: { nameservers: ['192.0.2.53', '10.96.0.10'], searches: ['example.org'], options: [{ name: 'ndots', value: '1' }] } }),
      '10.96.0.10',
      'cluster.local',
    ),
    'search team.svc.cluster.local svc.cluster.local cluster.local example.org\nnameserver 10.96.0.10\nnameserver 192.0.2.53\noptions ndots:1\n',
  );
});

test('a pod whose uid is not a UUID is left alone: the uid never becomes a path or a namespace name', async () => {
  const { mkdtempSync, readdirSync, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const { PodManager } = await import('./pods.js');
  const dataDir = mkdtempSync(join(tmpdir(), 'k8ts-pods-uid-'));
  try {
    const unused = new Proxy(
      {},
      {
        get: () => {
          throw new Error('touched');
        },
      },
    );
    const pm = new PodManager(
      unused as never,
      unused as never,
      unused as never,
      {
        nodeName: 'n',
        nodeIP: '10.0.0.1',
        dataDir,
        netnsPrefix: 'x',
        clusterDomain: 'cluster.local',
        cni: unused as never,
        probeRunner: unused as never,
        images: unused as never,
        volumes: unused as never,
        objects: unused as never,
        services: () => [],
        node: unused as never,
      },
      () => {},
    );
    for (const uid of ['../../etc', 'a b', '00000000-0000-0000-0000-00000000000g', '']) {
      await assert.rejects(pm.sync('ns/p', { metadata: { name: 'p', namespace: 'ns', uid }, spec: { containers: [] } }), /not a UUID: left alone/);
    }
    pm.close();
    assert.deepEqual(readdirSync(join(dataDir, 'pods')), []);
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
});

test('a status is the same as the stored one whatever the key order, null fields left out, transition times aside', () => {
  const posted = {
    phase: 'Running',
    conditions: [{ type: 'Ready', status: 'True', lastProbeTime: null, lastTransitionTime: '2026-12-07T07:37:30Z' }],
    podIP: '10.244.0.2',
  };
  const stored = { podIP: '10.244.0.2', conditions: [{ lastTransitionTime: '2026-12-07T07:37:31Z', status: 'True', type: 'Ready' }], phase: 'Running' };
  assert.ok(sameStatus(posted, stored));
  assert.ok(!sameStatus(posted, { ...stored, phase: 'Pending' }));
  assert.ok(!sameStatus(posted, { ...stored, conditions: [{ ...stored.conditions[0], status: 'False' }] }));
  assert.ok(!sameStatus(posted, { ...stored, podIP: undefined }), 'a field that is gone is a difference');
});

test('only a status change is no reason to sync a pod; spec, labels, deletion and finalizers are', () => {
  const base: Pod = {
    metadata: { name: 'p', namespace: 'd', uid: 'u1', resourceVersion: '1', labels: { a: 'b' } },
    spec: { containers: [{ name: 'c', image: 'busybox' }] },
    status: { phase: 'Pending' },
  };
  const next = (f: (p: Pod) => void): Pod => {
    const p = structuredClone(base);
    p.metadata.resourceVersion = '2';
    f(p);
    return p;
  };
  assert.ok(
    onlyStatusChanged(
      base,
      next((p) => (p.status = { phase: 'Running' })),
    ),
  );
  assert.ok(
    !onlyStatusChanged(
      base,
      next((p) => (p.spec!.containers[0].image = 'nginx')),
    ),
  );
  assert.ok(
    !onlyStatusChanged(
      base,
      next((p) => (p.metadata.labels = { a: 'c' })),
    ),
  );
  assert.ok(
    !onlyStatusChanged(
      base,
      next((p) => (p.metadata.deletionTimestamp = '2026-12-07T00:00:00Z')),
    ),
  );
  assert.ok(
    !onlyStatusChanged(
      base,
      next((p) => (p.metadata.finalizers = ['x'])),
    ),
  );
  assert.ok(
    !onlyStatusChanged(
      base,
      next((p) => (p.spec!.ephemeralContainers = [{ name: 'dbg', image: 'busybox' }])),
    ),
  );
});
