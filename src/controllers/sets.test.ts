// DaemonSets, StatefulSets and ControllerRevisions against a real API server (memory store) with its
// controller manager and scheduler: nodes are objects without agents, and a small loop here plays the
// kubelet (marks bound pods Running and Ready, finishes deletions) so ordering can be watched.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { CONTROLLERREVISIONS, DAEMONSETS, NODES, PERSISTENTVOLUMECLAIMS, PODS, STATEFULSETS } from '../api/kinds.js';
import type { DaemonSet, Node, Pod, StatefulSet } from '../api/types.js';
import type { Watch } from '../client/types.js';
import { eventually, sleep, startCluster, type TestCluster } from './testutil.js';

const NS = 'default';

function node(name: string, extra: Partial<Node['spec']> = {}, labels: Record<string, string> = {}): Node {
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name, labels: { 'kubernetes.io/hostname': name, ...labels } },
    spec: { ...extra },
    status: {
      capacity: { pods: '110' },
      allocatable: { pods: '110' },
      conditions: [
        {
          type: 'Ready',
          status: 'True',
          reason: 'KubeletReady',
          message: 'ok',
          lastHeartbeatTime: new Date().toISOString(),
          lastTransitionTime: new Date().toISOString(),
        },
      ],
    },
  };
}

const template = (labels: Record<string, string>, image = 'busybox:1') => ({
  metadata: { labels },
  spec: { containers: [{ name: 'c', image, command: ['sleep', '3600'] }] },
});

function ds(name: string, extra: Partial<NonNullable<DaemonSet['spec']>> = {}): DaemonSet {
  return {
    apiVersion: 'apps/v1',
    kind: 'DaemonSet',
    metadata: { name },
    spec: { selector: { matchLabels: { app: name } }, template: template({ app: name }), ...extra },
  };
}

function sts(name: string, extra: Partial<NonNullable<StatefulSet['spec']>> = {}): StatefulSet {
  return {
    apiVersion: 'apps/v1',
    kind: 'StatefulSet',
    metadata: { name },
    spec: { serviceName: name, replicas: 3, selector: { matchLabels: { app: name } }, template: template({ app: name }), ...extra },
  };
}

/** The kubelet's part for node objects without agents: bound pods become Running and Ready after a
 *  short start; deleting pods are finished. `hold` keeps named pods from becoming Ready. */
function fakeKubelet(t: TestCluster, hold: Set<string>): () => void {
  let stopped = false;
  (async () => {
    while (!stopped) {
      try {
        const { items } = await t.c.list(PODS, NS);
        for (const p of items) {
          if (p.metadata.deletionTimestamp) {
            await t.c.delete(PODS, NS, p.metadata.name!, { gracePeriodSeconds: 0 }).catch(() => {});
          } else if (p.spec?.nodeName && !hold.has(p.metadata.name!) && p.status?.phase !== 'Running') {
            await t.c
              .patch(
                PODS,
                NS,
                p.metadata.name!,
                'merge',
                {
                  status: {
                    phase: 'Running',
                    podIP: '10.0.0.1',
                    conditions: [{ type: 'Ready', status: 'True', lastProbeTime: null, lastTransitionTime: new Date().toISOString().replace(/\.\d+Z$/, 'Z') }],
                  },
                },
                'status',
              )
              .catch(() => {});
          }
        }
      } catch {
        /* the server is restarting */
      }
      await sleep(50);
    }
  })();
  return () => {
    stopped = true;
  };
}

async function status422(f: () => Promise<unknown>): Promise<string> {
  try {
    await f();
  } catch (e) {
    assert.equal((e as { code?: number }).code, 422, String(e));
    return (e as Error).message;
  }
  assert.fail('expected 422');
}

describe('apps/v1 DaemonSets and StatefulSets', () => {
  let t: TestCluster;
  const hold = new Set<string>();
  let stopKubelet = () => {};
  before(async () => {
    t = await startCluster();
    for (const n of ['n1', 'n2']) await t.c.create(NODES, undefined, node(n));
    await t.c.create(NODES, undefined, node('tainted', { taints: [{ key: 'dedicated', value: 'db', effect: 'NoSchedule' }] }));
    stopKubelet = fakeKubelet(t, hold);
  });
  after(async () => {
    stopKubelet();
    await t?.close();
  });

  test('validation names the field; defaults as apps/v1', async () => {
    assert.match(
      await status422(() => t.c.create(DAEMONSETS, NS, ds('bad', { template: template({ app: 'other' }) }))),
      /spec\.template\.metadata\.labels: Invalid value: .*`selector` does not match template `labels`/,
    );
    assert.match(
      await status422(() =>
        t.c.create(DAEMONSETS, NS, ds('bad', { updateStrategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 1, maxSurge: 1 } } })),
      ),
      /spec\.updateStrategy\.rollingUpdate\.maxSurge: Invalid value: .*may not be set when maxUnavailable is non-zero/,
    );
    assert.match(
      await status422(() => t.c.create(DAEMONSETS, NS, ds('bad', { updateStrategy: { type: 'Sometimes' } }))),
      /spec\.updateStrategy: Unsupported value: "Sometimes"/,
    );
    assert.match(
      await status422(() => t.c.create(STATEFULSETS, NS, sts('bad', { replicas: -1 }))),
      /spec\.replicas: Invalid value: -1: must be greater than or equal to 0/,
    );
    assert.match(
      await status422(() => t.c.create(STATEFULSETS, NS, sts('bad', { persistentVolumeClaimRetentionPolicy: { whenDeleted: 'Keep' } }))),
      /spec\.persistentVolumeClaimRetentionPolicy\.whenDeleted: Unsupported value: "Keep"/,
    );
    assert.match(
      await status422(() => t.c.create(STATEFULSETS, NS, sts('bad', { podManagementPolicy: 'Random' }))),
      /spec\.podManagementPolicy: Invalid value: "Random"/,
    );
    assert.match(
      await status422(() => t.c.create(CONTROLLERREVISIONS, NS, { apiVersion: 'apps/v1', kind: 'ControllerRevision', metadata: { name: 'r' }, revision: -1 })),
      /data: Required value: data is mandatory.*revision: Invalid value: -1: must be non-negative|revision: Invalid value/,
    );

    const d = await t.c.create(
      DAEMONSETS,
      NS,
      ds('defaults', { template: { ...template({ app: 'defaults' }), spec: { nodeSelector: { none: 'x' }, containers: [{ name: 'c', image: 'busybox' }] } } }),
    );
    assert.deepEqual(d.spec?.updateStrategy, { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 1, maxSurge: 0 } });
    assert.equal(d.spec?.revisionHistoryLimit, 10);
    assert.equal(d.metadata.annotations?.['deprecated.daemonset.template.generation'], '1');
    assert.match(
      await status422(() =>
        t.c.patch(DAEMONSETS, NS, 'defaults', 'merge', { spec: { selector: { matchLabels: { app: 'x' } }, template: { metadata: { labels: { app: 'x' } } } } }),
      ),
      /spec\.selector: Invalid value: .*field is immutable/,
    );
    const s = await t.c.create(STATEFULSETS, NS, sts('sdefaults', { replicas: 0 }));
    assert.equal(s.spec?.podManagementPolicy, 'OrderedReady');
    assert.deepEqual(s.spec?.updateStrategy, { type: 'RollingUpdate', rollingUpdate: { partition: 0 } });
    assert.deepEqual(s.spec?.persistentVolumeClaimRetentionPolicy, { whenDeleted: 'Retain', whenScaled: 'Retain' });
    assert.match(
      await status422(() => t.c.patch(STATEFULSETS, NS, 'sdefaults', 'merge', { spec: { serviceName: 'other' } })),
      /spec: Forbidden: updates to statefulset spec for fields other than 'replicas'/,
    );
    await t.c.delete(DAEMONSETS, NS, 'defaults');
    await t.c.delete(STATEFULSETS, NS, 'sdefaults');
  });

  test('a DaemonSet runs one pod per eligible node, pinned by node affinity and bound by the scheduler; a late node gets its pod', async () => {
    await t.c.create(DAEMONSETS, NS, ds('agent'));
    const onNodes = async (want: string[]) =>
      eventually(`agent pods on ${want}`, async () => {
        const pods = (await t.c.list(PODS, NS, { labelSelector: 'app=agent' })).items.filter((p) => !p.metadata.deletionTimestamp);
        const nodes = pods.map((p) => p.spec?.nodeName ?? '?').sort();
        return JSON.stringify(nodes) === JSON.stringify(want) && pods;
      });
    const pods = await onNodes(['n1', 'n2']);
    const p = pods[0];
    assert.deepEqual(p.spec?.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms, [
      { matchFields: [{ key: 'metadata.name', operator: 'In', values: [p.spec!.nodeName!] }] },
    ]);
    const keys = (p.spec?.tolerations ?? []).map((x) => `${x.key}:${x.effect}`);
    for (const k of [
      'not-ready:NoExecute',
      'unreachable:NoExecute',
      'disk-pressure:NoSchedule',
      'memory-pressure:NoSchedule',
      'pid-pressure:NoSchedule',
      'unschedulable:NoSchedule',
    ]) {
      assert.ok(keys.includes(`node.kubernetes.io/${k}`), k);
    }
    assert.ok(!keys.includes('node.kubernetes.io/network-unavailable:NoSchedule'));
    assert.deepEqual(
      p.metadata.ownerReferences?.map((r) => [r.kind, r.name, r.controller, r.blockOwnerDeletion]),
      [['DaemonSet', 'agent', true, true]],
    );
    assert.ok(p.metadata.labels?.['controller-revision-hash']);
    assert.equal(p.metadata.labels?.['pod-template-generation'], '1');
    const st = await eventually('status', async () => {
      const d = await t.c.get(DAEMONSETS, NS, 'agent');
      return d?.status?.numberAvailable === 2 && d.status;
    });
    assert.deepEqual([st.desiredNumberScheduled, st.currentNumberScheduled, st.numberReady, st.updatedNumberScheduled, st.numberMisscheduled], [2, 2, 2, 2, 0]);
    await t.c.create(NODES, undefined, node('n3'));
    await onNodes(['n1', 'n2', 'n3']);
    // Tolerating the taint brings the tainted node in (a template change: a rolling update).
    await t.c.patch(DAEMONSETS, NS, 'agent', 'merge', {
      spec: { template: { spec: { tolerations: [{ key: 'dedicated', operator: 'Exists', effect: 'NoSchedule' }] } } },
    });
    await onNodes(['n1', 'n2', 'n3', 'tainted']);
    // A node that stops matching the selector loses its pod.
    await t.c.patch(DAEMONSETS, NS, 'agent', 'merge', { spec: { template: { spec: { nodeSelector: { role: 'x' } } } } });
    await t.c.patch(NODES, undefined, 'n1', 'merge', { metadata: { labels: { role: 'x' } } });
    await onNodes(['n1']);
    await t.c.delete(DAEMONSETS, NS, 'agent');
    await t.c.delete(NODES, undefined, 'n3');
  });

  test('a DaemonSet rolling update keeps at most maxUnavailable pods down (watched), records ControllerRevisions', async () => {
    await t.c.create(DAEMONSETS, NS, ds('roll'));
    await eventually('2 ready', async () => (await t.c.get(DAEMONSETS, NS, 'roll'))?.status?.numberAvailable === 2);
    // Count live ready pods through a watch: never below desired - maxUnavailable (2 - 1).
    const ready = new Map<string, boolean>();
    let minReady = Infinity;
    const { items, resourceVersion } = await t.c.list(PODS, NS, { labelSelector: 'app=roll' });
    const isReady = (p: Pod) => !p.metadata.deletionTimestamp && (p.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True');
    for (const p of items) ready.set(p.metadata.name!, isReady(p));
    const w: Watch = await t.c.watch(
      PODS,
      NS,
      resourceVersion,
      {
        onEvent(type, p) {
          if (type === 'DELETED') ready.delete(p.metadata.name!);
          else ready.set(p.metadata.name!, isReady(p));
          minReady = Math.min(minReady, [...ready.values()].filter(Boolean).length);
        },
        onError() {},
      },
      { labelSelector: 'app=roll' },
    );
    try {
      await t.c.patch(DAEMONSETS, NS, 'roll', 'merge', { spec: { template: { spec: { containers: [{ name: 'c', image: 'busybox:2' }] } } } });
      await eventually(
        'rolled out',
        async () => {
          const d = await t.c.get(DAEMONSETS, NS, 'roll');
          const pods = (await t.c.list(PODS, NS, { labelSelector: 'app=roll' })).items;
          return (
            d?.status?.observedGeneration === d?.metadata.generation &&
            d?.status?.updatedNumberScheduled === 2 &&
            d?.status?.numberAvailable === 2 &&
            pods.length === 2 &&
            pods.every((p) => p.spec?.containers[0].image === 'busybox:2')
          );
        },
        20_000,
      );
    } finally {
      w.close();
    }
    assert.ok(minReady >= 1, `ready pods fell to ${minReady}`);
    const revs = (await t.c.list(CONTROLLERREVISIONS, NS, { labelSelector: 'app=roll' })).items.sort((a, b) => a.revision - b.revision);
    assert.deepEqual(
      revs.map((r) => r.revision),
      [1, 2],
    );
    assert.equal((revs[1].data as { spec: { template: { $patch: string } } }).spec.template.$patch, 'replace');
    await t.c.delete(DAEMONSETS, NS, 'roll');
  });

  test('a StatefulSet creates web-0..2 in order, each Ready first, and removes them in reverse (watched)', async () => {
    const added: string[] = [];
    const deleted: string[] = [];
    const { resourceVersion } = await t.c.list(PODS, NS);
    const w = await t.c.watch(
      PODS,
      NS,
      resourceVersion,
      {
        onEvent(type, p) {
          if (type === 'ADDED') added.push(p.metadata.name!);
          if (type === 'DELETED') deleted.push(p.metadata.name!);
        },
        onError() {},
      },
      { labelSelector: 'app=web' },
    );
    try {
      hold.add('web-1');
      await t.c.create(STATEFULSETS, NS, sts('web'));
      await eventually('web-1 created', async () => added.includes('web-1'));
      await sleep(500);
      assert.deepEqual(added, ['web-0', 'web-1'], 'web-2 waits for web-1 to be Ready');
      hold.delete('web-1');
      const s = await eventually('3 ready', async () => {
        const x = await t.c.get(STATEFULSETS, NS, 'web');
        return x?.status?.readyReplicas === 3 && x;
      });
      assert.deepEqual(added, ['web-0', 'web-1', 'web-2']);
      assert.equal(s.status?.currentRevision, s.status?.updateRevision);
      const web1 = (await t.c.get(PODS, NS, 'web-1'))!;
      assert.equal(web1.spec?.hostname, 'web-1');
      assert.equal(web1.spec?.subdomain, 'web');
      assert.equal(web1.metadata.labels?.['statefulset.kubernetes.io/pod-name'], 'web-1');
      assert.equal(web1.metadata.labels?.['apps.kubernetes.io/pod-index'], '1');
      assert.equal(web1.metadata.labels?.['controller-revision-hash'], s.status?.updateRevision);
      await t.c.patch(STATEFULSETS, NS, 'web', 'merge', { spec: { replicas: 0 } });
      await eventually('scaled to 0', async () => deleted.length === 3);
      assert.deepEqual(deleted, ['web-2', 'web-1', 'web-0']);
    } finally {
      w.close();
    }
    await t.c.delete(STATEFULSETS, NS, 'web');
  });

  test('Parallel creates every pod at once; a partitioned rolling update touches only ordinals >= partition', async () => {
    hold.add('par-0');
    await t.c.create(STATEFULSETS, NS, sts('par', { podManagementPolicy: 'Parallel', replicas: 3 }));
    await eventually('3 pods though par-0 is not ready', async () => (await t.c.list(PODS, NS, { labelSelector: 'app=par' })).items.length === 3);
    hold.delete('par-0');
    await eventually('3 ready', async () => (await t.c.get(STATEFULSETS, NS, 'par'))?.status?.readyReplicas === 3);
    await t.c.patch(STATEFULSETS, NS, 'par', 'merge', {
      spec: { updateStrategy: { rollingUpdate: { partition: 2 } }, template: { spec: { containers: [{ name: 'c', image: 'busybox:2' }] } } },
    });
    const images = async () =>
      Object.fromEntries((await t.c.list(PODS, NS, { labelSelector: 'app=par' })).items.map((p) => [p.metadata.name, p.spec?.containers[0].image]));
    await eventually(
      'par-2 updated',
      async () => (await images())['par-2'] === 'busybox:2' && (await t.c.get(STATEFULSETS, NS, 'par'))?.status?.updatedReplicas === 1,
    );
    await sleep(400);
    assert.deepEqual(await images(), { 'par-0': 'busybox:1', 'par-1': 'busybox:1', 'par-2': 'busybox:2' });
    const s = (await t.c.get(STATEFULSETS, NS, 'par'))!;
    assert.notEqual(s.status?.currentRevision, s.status?.updateRevision);
    await t.c.patch(STATEFULSETS, NS, 'par', 'merge', { spec: { updateStrategy: { rollingUpdate: { partition: 0 } } } });
    await eventually(
      'all updated',
      async () => {
        const x = await t.c.get(STATEFULSETS, NS, 'par');
        return x?.status?.updatedReplicas === 3 && x.status.readyReplicas === 3 && x.status.currentRevision === x.status.updateRevision;
      },
      20_000,
    );
    assert.deepEqual(await images(), { 'par-0': 'busybox:2', 'par-1': 'busybox:2', 'par-2': 'busybox:2' });
    // Undo as kubectl does it: the previous revision's data as a strategic merge patch; that revision becomes the newest.
    const revs = (await t.c.list(CONTROLLERREVISIONS, NS, { labelSelector: 'app=par' })).items.sort((a, b) => a.revision - b.revision);
    assert.equal(revs.length, 2);
    await t.c.patch(STATEFULSETS, NS, 'par', 'strategic', revs[0].data);
    await eventually(
      'undone',
      async () =>
        JSON.stringify(Object.values(await images())) === JSON.stringify(['busybox:1', 'busybox:1', 'busybox:1']) &&
        (await t.c.get(CONTROLLERREVISIONS, NS, revs[0].metadata.name!))?.revision === 3,
      20_000,
    );
    await t.c.delete(STATEFULSETS, NS, 'par');
  });

  test('volumeClaimTemplates: each pod gets its own claim <template>-<pod>, made before it and kept after the set', async () => {
    await t.c.create(
      STATEFULSETS,
      NS,
      sts('claims', {
        replicas: 1,
        volumeClaimTemplates: [
          { metadata: { name: 'data', labels: { tier: 'db' } }, spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } } },
        ],
      }),
    );
    const pod = await eventually('pod', async () => t.c.get(PODS, NS, 'claims-0'));
    assert.deepEqual(pod.spec?.volumes?.find((v) => v.name === 'data')?.persistentVolumeClaim, { claimName: 'data-claims-0' });
    const claim = (await t.c.get(PERSISTENTVOLUMECLAIMS, NS, 'data-claims-0'))!;
    assert.equal(claim.metadata.labels?.tier, 'db');
    assert.equal(claim.metadata.labels?.app, 'claims');
    assert.equal(claim.spec?.storageClassName, 'local-path');
    assert.equal(
      (await t.c.get(STATEFULSETS, NS, 'claims'))?.status?.conditions?.find((c) => c.type === 'VolumeClaimTemplatesUnsupported'),
      undefined,
    );
    await t.c.delete(STATEFULSETS, NS, 'claims');
    await t.c.delete(PODS, NS, 'claims-0', { gracePeriodSeconds: 0 }).catch(() => {});
    // Retain (the default persistentVolumeClaimRetentionPolicy): the claim outlives the set.
    assert.ok(await t.c.get(PERSISTENTVOLUMECLAIMS, NS, 'data-claims-0'));
    await t.c.delete(PERSISTENTVOLUMECLAIMS, NS, 'data-claims-0');
  });
});
