// ReplicaSet, ReplicationController, Deployment and garbage-collector controllers against a real API server
// on the memory store (no nodes: a small test loop plays the kubelet and marks pods Running and Ready).
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CONFIGMAPS, DEPLOYMENTS, EVENTS, NAMESPACES, PODS, REPLICASETS, REPLICATIONCONTROLLERS } from '../api/kinds.js';
import type { ConfigMap, Deployment, Pod, ReplicaSet } from '../api/types.js';
import { configFromKubeconfig, RestClient } from '../client/rest.js';
import { runServer } from '../server/server.js';
import { eventually, sleep, startCluster, type TestCluster } from './testutil.js';
import { fenceposts, templateHash } from './deploymentutil.js';
import { rankPodsForDeletion } from './podcontrol.js';

const until = <T>(what: string, f: () => Promise<T | undefined | false>, ms = 20_000) => eventually(what, f, ms);

const template = (labels: Record<string, string>, image = 'busybox:1', extra: Record<string, unknown> = {}) => ({
  metadata: { labels },
  spec: { containers: [{ name: 'c', image, command: ['sleep', '3600'] }], ...extra },
});

function rs(name: string, replicas: number, labels: Record<string, string>, extra: Partial<NonNullable<ReplicaSet['spec']>> = {}): ReplicaSet {
  return {
    apiVersion: 'apps/v1',
    kind: 'ReplicaSet',
    metadata: { name },
    spec: { replicas, selector: { matchLabels: labels }, template: template(labels), ...extra },
  };
}

function deployment(name: string, replicas: number, spec: Partial<NonNullable<Deployment['spec']>> = {}): Deployment {
  const labels = { app: name };
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name },
    spec: { replicas, selector: { matchLabels: labels }, template: template(labels), ...spec },
  };
}

const active = (p: Pod) => !p.metadata.deletionTimestamp;

describe('workload controllers', () => {
  let t: TestCluster;
  let kubelet: NodeJS.Timeout | undefined;
  let kubeletStopped = false;
  /** Pods the test kubelet leaves alone (by name prefix): they stay Pending and not ready. */
  const held = new Set<string>();

  before(async () => {
    t = await startCluster();
    // The test kubelet: every pod becomes Running and Ready a moment after it is made.
    const tick = async () => {
      try {
        for (const p of (await t.c.list(PODS)).items) {
          if (p.status?.phase === 'Running' || p.metadata.deletionTimestamp) continue;
          if ([...held].some((h) => p.metadata.name!.startsWith(h))) continue;
          const ts = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
          await t.c
            .patch(
              PODS,
              p.metadata.namespace,
              p.metadata.name!,
              'merge',
              {
                status: {
                  phase: 'Running',
                  conditions: [{ type: 'Ready', status: 'True', lastTransitionTime: ts }],
                },
              },
              'status',
            )
            .catch(() => {});
        }
      } catch {
        // The server went away under a pass that was in flight: the next pass (if any) retries.
      } finally {
        // A pass in flight when after() ran must not schedule another: that timer would keep the process alive.
        if (!kubeletStopped) kubelet = setTimeout(tick, 50);
      }
    };
    kubelet = setTimeout(tick, 50);
  });
  after(async () => {
    kubeletStopped = true;
    clearTimeout(kubelet);
    kubelet = undefined;
    await t?.close();
  });

  async function ns(name: string): Promise<string> {
    await t.c.create(NAMESPACES, undefined, { apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
    return name;
  }
  const podsOf = async (n: string, sel: string) => (await t.c.list(PODS, n, { labelSelector: sel })).items.filter(active);

  test('maxSurge/maxUnavailable are rounded as upstream (surge up, unavailable down, both 0 → 1 unavailable)', () => {
    const d = (replicas: number, maxSurge: number | string, maxUnavailable: number | string) =>
      deployment('x', replicas, { strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge, maxUnavailable } } });
    assert.deepEqual(fenceposts(d(10, '25%', '25%')), { surge: 3, unavailable: 2 });
    assert.deepEqual(fenceposts(d(100, '25%', '25%')), { surge: 25, unavailable: 25 });
    assert.deepEqual(fenceposts(d(1, '25%', '25%')), { surge: 1, unavailable: 0 });
    assert.deepEqual(fenceposts(d(3, '0%', '10%')), { surge: 0, unavailable: 1 });
    assert.deepEqual(fenceposts(d(5, 2, 0)), { surge: 2, unavailable: 0 });
    assert.match(templateHash(template({ a: 'b' })), /^[bcdfghjklmnpqrstvwxz2456789]{1,10}$/);
    assert.notEqual(templateHash(template({ a: 'b' })), templateHash(template({ a: 'b' }), 1), 'the collision count changes the hash');
  });

  test('deletion order: unscheduled, pending, not ready, then the node crowded with related pods', () => {
    const ts = (s: number) => new Date(Date.now() - s * 1000).toISOString();
    const pod = (name: string, o: { node?: string; phase?: string; ready?: boolean; age?: number }): Pod => ({
      metadata: { name, creationTimestamp: ts(o.age ?? 100) },
      spec: { containers: [], ...(o.node ? { nodeName: o.node } : {}) },
      status: {
        phase: o.phase ?? 'Running',
        conditions: [{ type: 'Ready', status: o.ready === false ? 'False' : 'True', lastTransitionTime: ts(o.age ?? 100) }],
      },
    });
    const pods = [
      pod('ready-n1-old', { node: 'n1', age: 5000 }),
      pod('ready-n2', { node: 'n2', age: 5000 }),
      pod('ready-n1-b', { node: 'n1', age: 5000 }),
      pod('unready', { node: 'n2', ready: false }),
      pod('pending', { node: 'n2', phase: 'Pending', ready: false }),
      pod('unscheduled', { phase: 'Pending', ready: false }),
    ];
    const order = rankPodsForDeletion(pods, pods, 5).map((p) => p.metadata.name!);
    assert.deepEqual(order.slice(0, 4), ['unscheduled', 'pending', 'unready', 'ready-n2']);
    // The two n1 pods tie on everything but their creation millisecond: either may come next.
    assert.match(order[4], /^ready-n1-/);
  });

  test('ReplicaSet: creates its pods, replaces a deleted one, scales down not-ready pods first, reports status', async () => {
    const n = await ns('rs-basic');
    await t.c.create(REPLICASETS, n, rs('web', 3, { app: 'web' }));
    const pods = await until('3 pods', async () => ((await podsOf(n, 'app=web')).length === 3 ? podsOf(n, 'app=web') : false));
    const made = (await t.c.get(REPLICASETS, n, 'web'))!;
    for (const p of pods) {
      assert.match(p.metadata.name!, /^web-[a-z0-9]{5}$/);
      assert.deepEqual(p.metadata.ownerReferences, [
        { apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'web', uid: made.metadata.uid, controller: true, blockOwnerDeletion: true },
      ]);
    }
    const st = await until('status 3/3', async () => {
      const s = (await t.c.get(REPLICASETS, n, 'web'))!.status;
      return s?.readyReplicas === 3 && s.availableReplicas === 3 && s.fullyLabeledReplicas === 3 && s.observedGeneration === 1 && s;
    });
    assert.equal(st.replicas, 3);
    await t.c.delete(PODS, n, pods[0].metadata.name!);
    await until('replaced', async () => {
      const now = await podsOf(n, 'app=web');
      return now.length === 3 && !now.some((p) => p.metadata.name === pods[0].metadata.name);
    });
    // One pod is made not ready: it is the one a scale-down takes.
    const victim = (await podsOf(n, 'app=web'))[1];
    await t.c.patch(
      PODS,
      n,
      victim.metadata.name!,
      'merge',
      { status: { conditions: [{ type: 'Ready', status: 'False', lastTransitionTime: '2024-01-01T00:00:00Z' }] } },
      'status',
    );
    await until('ready count drops', async () => (await t.c.get(REPLICASETS, n, 'web'))!.status?.readyReplicas === 2);
    await t.c.patch(REPLICASETS, n, 'web', 'merge', { spec: { replicas: 2 } });
    const left = await until('2 pods', async () => ((await podsOf(n, 'app=web')).length === 2 ? podsOf(n, 'app=web') : false));
    assert.ok(!left.some((p) => p.metadata.name === victim.metadata.name), 'the not-ready pod went first');
    const evs = (await t.c.list(EVENTS, n)).items.map((e) => `${e.reason}: ${e.message}`);
    assert.ok(
      evs.some((e) => /^SuccessfulCreate: Created pod: web-/.test(e)),
      evs.join('\n'),
    );
    assert.ok(
      evs.some((e) => e === `SuccessfulDelete: Deleted pod: ${victim.metadata.name}`),
      evs.join('\n'),
    );
  });

  test('ReplicaSet: slow start creates 100 pods without exceeding the count; availableReplicas waits minReadySeconds', async () => {
    const n = await ns('rs-many');
    await t.c.create(REPLICASETS, n, rs('many', 100, { app: 'many' }, { minReadySeconds: 2 }));
    await until('100 pods', async () => (await podsOf(n, 'app=many')).length === 100);
    await until('100 ready', async () => (await t.c.get(REPLICASETS, n, 'many'))!.status?.readyReplicas === 100);
    const s = (await t.c.get(REPLICASETS, n, 'many'))!.status!;
    assert.ok((s.availableReplicas ?? 0) < 100, `not yet available after minReadySeconds: ${s.availableReplicas}`);
    await until('100 available', async () => (await t.c.get(REPLICASETS, n, 'many'))!.status?.availableReplicas === 100);
    await sleep(300);
    assert.equal((await t.c.list(PODS, n)).items.length, 100, 'never more pods than replicas');
  });

  test('ReplicaSet: adopts a matching orphan, releases a pod that stops matching', async () => {
    const n = await ns('rs-adopt');
    await t.c.create(PODS, n, {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'orphan', labels: { app: 'a' } },
      spec: { containers: [{ name: 'c', image: 'busybox' }] },
    });
    await t.c.create(REPLICASETS, n, rs('a', 2, { app: 'a' }));
    const owner = (await t.c.get(REPLICASETS, n, 'a'))!;
    await until('orphan adopted', async () => (await t.c.get(PODS, n, 'orphan'))!.metadata.ownerReferences?.[0]?.uid === owner.metadata.uid);
    await until('2 pods', async () => (await podsOf(n, 'app=a')).length === 2);
    await t.c.patch(PODS, n, 'orphan', 'merge', { metadata: { labels: { app: 'gone' } } });
    await until('released', async () => !(await t.c.get(PODS, n, 'orphan'))!.metadata.ownerReferences);
    await until('replaced', async () => (await podsOf(n, 'app=a')).length === 2);
  });

  test('ReplicaSet: refused creates surface as ReplicaFailure with the API error, cleared when fixed', async () => {
    const n = await ns('rs-fail');
    const bad = rs('bad', 2, { app: 'bad' });
    bad.spec!.template!.metadata!.finalizers = ['not-qualified/finalizer/x'];
    await t.c.create(REPLICASETS, n, bad);
    const c = await until('ReplicaFailure', async () => (await t.c.get(REPLICASETS, n, 'bad'))!.status?.conditions?.find((x) => x.type === 'ReplicaFailure'));
    assert.equal(c.status, 'True');
    assert.equal(c.reason, 'FailedCreate');
    assert.match(c.message!, /metadata\.finalizers/);
    await until('FailedCreate event', async () =>
      (await t.c.list(EVENTS, n)).items.some((e) => e.reason === 'FailedCreate' && /^Error creating: /.test(e.message ?? '')),
    );
    await t.c.patch(REPLICASETS, n, 'bad', 'json', [{ op: 'remove', path: '/spec/template/metadata/finalizers' }]);
    await until('condition cleared', async () => {
      const s = (await t.c.get(REPLICASETS, n, 'bad'))!.status;
      return s?.replicas === 2 && !s.conditions?.some((x) => x.type === 'ReplicaFailure');
    });
  });

  test('ReplicationController: pods from the template, selector and labels defaulted from it', async () => {
    const n = await ns('rc');
    await t.c.create(REPLICATIONCONTROLLERS, n, {
      apiVersion: 'v1',
      kind: 'ReplicationController',
      metadata: { name: 'old' },
      spec: { replicas: 2, template: template({ app: 'old' }) },
    });
    const rc = (await t.c.get(REPLICATIONCONTROLLERS, n, 'old'))!;
    assert.deepEqual(rc.spec?.selector, { app: 'old' });
    assert.deepEqual(rc.metadata.labels, { app: 'old' });
    const pods = await until('2 pods', async () => ((await podsOf(n, 'app=old')).length === 2 ? podsOf(n, 'app=old') : false));
    assert.equal(pods[0].metadata.ownerReferences?.[0]?.kind, 'ReplicationController');
    await until('status', async () => (await t.c.get(REPLICATIONCONTROLLERS, n, 'old'))!.status?.availableReplicas === 2);
    await assert.rejects(
      t.c.create(REPLICATIONCONTROLLERS, n, {
        apiVersion: 'v1',
        kind: 'ReplicationController',
        metadata: { name: 'bad' },
        spec: { replicas: -1, selector: { app: 'x' }, template: template({ app: 'y' }) },
      }),
      (e: Error) => /spec\.replicas/.test(e.message) && /spec\.template\.metadata\.labels/.test(e.message),
    );
  });

  test('Deployment: ReplicaSet with pod-template-hash and revision; a rolling update stays inside maxSurge/maxUnavailable; rollback reuses the old ReplicaSet', async () => {
    const n = await ns('deploy-roll');
    await t.c.create(DEPLOYMENTS, n, deployment('web', 4, { strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: 1 } } }));
    await until('complete', async () => {
      const d = (await t.c.get(DEPLOYMENTS, n, 'web'))!;
      return d.status?.availableReplicas === 4 && d.status.conditions?.find((c) => c.type === 'Progressing')?.reason === 'NewReplicaSetAvailable';
    });
    const [first] = (await t.c.list(REPLICASETS, n)).items;
    const hash = first.metadata.labels!['pod-template-hash'];
    assert.equal(first.metadata.name, `web-${hash}`);
    assert.deepEqual(first.spec?.selector?.matchLabels, { app: 'web', 'pod-template-hash': hash });
    assert.equal(first.metadata.annotations!['deployment.kubernetes.io/revision'], '1');
    assert.equal(first.metadata.annotations!['deployment.kubernetes.io/desired-replicas'], '4');
    assert.equal(first.metadata.annotations!['deployment.kubernetes.io/max-replicas'], '5');
    let d = (await t.c.get(DEPLOYMENTS, n, 'web'))!;
    assert.equal(d.metadata.annotations!['deployment.kubernetes.io/revision'], '1');
    assert.equal(d.status?.conditions?.find((c) => c.type === 'Available')?.status, 'True');

    // Watch the pod count through the update: at most 4 + 1 pods, at least 4 - 1 ready.
    let maxPods = 0;
    let minReady = Infinity;
    let watching = true;
    const sampler = (async () => {
      while (watching) {
        const ps = (await t.c.list(PODS, n)).items.filter(active);
        maxPods = Math.max(maxPods, ps.length);
        minReady = Math.min(minReady, ps.filter((p) => p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')).length);
        await sleep(5);
      }
    })();
    try {
      await t.c.patch(DEPLOYMENTS, n, 'web', 'merge', {
        metadata: { annotations: { 'kubernetes.io/change-cause': 'to v2' } },
        spec: { template: { spec: { containers: [{ name: 'c', image: 'busybox:2', command: ['sleep', '3600'] }] } } },
      });
      await until('rolled to v2', async () => {
        d = (await t.c.get(DEPLOYMENTS, n, 'web'))!;
        const s = d.status!;
        return (
          (s.observedGeneration ?? 0) >= (d.metadata.generation ?? 0) &&
          s.updatedReplicas === 4 &&
          s.replicas === 4 &&
          s.availableReplicas === 4 &&
          d.status?.conditions?.find((c) => c.type === 'Progressing')?.reason === 'NewReplicaSetAvailable'
        );
      });
    } finally {
      // A failed wait must not leave the sampler polling: it would hold the process open.
      watching = false;
      await sampler;
    }
    assert.ok(maxPods <= 5, `pods never above replicas + maxSurge: ${maxPods}`);
    assert.ok(minReady >= 3, `ready pods never below replicas - maxUnavailable: ${minReady}`);
    const all = (await t.c.list(REPLICASETS, n)).items;
    assert.equal(all.length, 2);
    const second = all.find((x) => x.metadata.uid !== first.metadata.uid)!;
    assert.equal(second.metadata.annotations!['deployment.kubernetes.io/revision'], '2');
    assert.equal(second.metadata.annotations!['kubernetes.io/change-cause'], 'to v2');
    assert.equal(all.find((x) => x.metadata.uid === first.metadata.uid)!.spec?.replicas, 0);
    assert.equal(d.metadata.annotations!['deployment.kubernetes.io/revision'], '2');

    // Back to the first template (what `kubectl rollout undo` writes): the first ReplicaSet comes back as revision 3.
    await t.c.patch(DEPLOYMENTS, n, 'web', 'merge', {
      spec: { template: { spec: { containers: [{ name: 'c', image: 'busybox:1', command: ['sleep', '3600'] }] } } },
    });
    await until('rolled back', async () => {
      const back = (await t.c.get(REPLICASETS, n, first.metadata.name!))!;
      return (
        back.spec?.replicas === 4 && back.status?.availableReplicas === 4 && back.metadata.annotations!['deployment.kubernetes.io/revision'] === '3' && back
      );
    });
    const back = (await t.c.get(REPLICASETS, n, first.metadata.name!))!;
    assert.equal(back.metadata.annotations!['deployment.kubernetes.io/revision-history'], '1');
    assert.equal((await t.c.list(REPLICASETS, n)).items.length, 2, 'no third ReplicaSet');
  });

  test('Deployment: Recreate never runs old and new pods together', async () => {
    const n = await ns('deploy-recreate');
    await t.c.create(DEPLOYMENTS, n, deployment('r', 3, { strategy: { type: 'Recreate' } }));
    await until('3 available', async () => (await t.c.get(DEPLOYMENTS, n, 'r'))!.status?.availableReplicas === 3);
    let mixed = false;
    let watching = true;
    const sampler = (async () => {
      while (watching) {
        const images = new Set((await t.c.list(PODS, n)).items.map((p) => p.spec!.containers[0].image));
        if (images.size > 1) mixed = true;
        await sleep(5);
      }
    })();
    try {
      await t.c.patch(DEPLOYMENTS, n, 'r', 'merge', {
        spec: { template: { spec: { containers: [{ name: 'c', image: 'busybox:9', command: ['sleep', '3600'] }] } } },
      });
      await until('recreated', async () => {
        const ps = (await t.c.list(PODS, n)).items;
        return (
          ps.length === 3 &&
          ps.every((p) => p.spec!.containers[0].image === 'busybox:9') &&
          (await t.c.get(DEPLOYMENTS, n, 'r'))!.status?.availableReplicas === 3
        );
      });
    } finally {
      // A failed wait must not leave the sampler polling: it would hold the process open.
      watching = false;
      await sampler;
    }
    assert.equal(mixed, false);
  });

  test('Deployment: paused holds the template change; scaling while paused; resume rolls; history limit; progress deadline', async () => {
    const n = await ns('deploy-pause');
    await t.c.create(DEPLOYMENTS, n, deployment('p', 2, { revisionHistoryLimit: 1 }));
    await until('2 available', async () => (await t.c.get(DEPLOYMENTS, n, 'p'))!.status?.availableReplicas === 2);
    await t.c.patch(DEPLOYMENTS, n, 'p', 'merge', { spec: { paused: true } });
    await until('paused condition', async () =>
      (await t.c.get(DEPLOYMENTS, n, 'p'))!.status?.conditions?.find((c) => c.type === 'Progressing' && c.reason === 'DeploymentPaused'),
    );
    await t.c.patch(DEPLOYMENTS, n, 'p', 'merge', {
      spec: { replicas: 3, template: { spec: { containers: [{ name: 'c', image: 'busybox:3', command: ['sleep', '3600'] }] } } },
    });
    await until('scaled while paused', async () => (await podsOf(n, 'app=p')).length === 3);
    await sleep(300);
    assert.equal((await t.c.list(REPLICASETS, n)).items.length, 1, 'no new ReplicaSet while paused');
    await t.c.patch(DEPLOYMENTS, n, 'p', 'merge', { spec: { paused: false } });
    await until('resumed and rolled', async () => {
      const ps = await podsOf(n, 'app=p');
      return (
        ps.length === 3 &&
        ps.every((p) => p.spec!.containers[0].image === 'busybox:3') &&
        (await t.c.get(DEPLOYMENTS, n, 'p'))!.status?.conditions?.find((c) => c.reason === 'NewReplicaSetAvailable')
      );
    });
    await t.c.patch(DEPLOYMENTS, n, 'p', 'merge', {
      spec: { template: { spec: { containers: [{ name: 'c', image: 'busybox:4', command: ['sleep', '3600'] }] } } },
    });
    await until('history limit keeps one old ReplicaSet', async () => {
      const rss = (await t.c.list(REPLICASETS, n)).items;
      return rss.length === 2 && rss.some((x) => x.spec?.template?.spec?.containers[0].image === 'busybox:4' && x.status?.availableReplicas === 3);
    });
    // A rollout whose pods never become ready runs into its deadline.
    held.add('stuck-');
    await t.c.create(DEPLOYMENTS, n, deployment('stuck', 1, { progressDeadlineSeconds: 2 }));
    const c = await until('deadline exceeded', async () =>
      (await t.c.get(DEPLOYMENTS, n, 'stuck'))!.status?.conditions?.find((x) => x.type === 'Progressing' && x.reason === 'ProgressDeadlineExceeded'),
    );
    assert.equal(c.status, 'False');
    assert.match(c.message!, /^ReplicaSet "stuck-[a-z0-9]+" has timed out progressing\.$/);
  });

  test('Deployment: bad specs are refused with 422 naming the field', async () => {
    const n = await ns('deploy-bad');
    const reject = (d: Deployment, field: RegExp) =>
      assert.rejects(t.c.create(DEPLOYMENTS, n, d), (e: Error & { code?: number }) => e.code === 422 && field.test(e.message));
    await reject(
      { ...deployment('a', 1), spec: { ...deployment('a', 1).spec!, selector: { matchLabels: { app: 'other' } } } },
      /spec\.template\.metadata\.labels/,
    );
    await reject(
      deployment('b', 1, { strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 0, maxUnavailable: 0 } } }),
      /spec\.strategy\.rollingUpdate\.maxUnavailable/,
    );
    await reject(deployment('c', -1), /spec\.replicas/);
    await t.c.create(DEPLOYMENTS, n, deployment('d', 1));
    await assert.rejects(
      t.c.patch(DEPLOYMENTS, n, 'd', 'merge', {
        spec: { selector: { matchLabels: { app: 'd', x: 'y' } }, template: { metadata: { labels: { app: 'd', x: 'y' } } } },
      }),
      (e: Error & { code?: number }) => e.code === 422 && /spec\.selector/.test(e.message) && /field is immutable/.test(e.message),
    );
  });

  test('garbage collection: background, orphan and foreground deletion of a Deployment', async () => {
    const n = await ns('gc');
    for (const name of ['bg', 'orph', 'fg']) await t.c.create(DEPLOYMENTS, n, deployment(name, 2));
    for (const name of ['bg', 'orph', 'fg']) await until(`${name} up`, async () => (await podsOf(n, `app=${name}`)).length === 2);

    await t.c.delete(DEPLOYMENTS, n, 'bg', { propagationPolicy: 'Background' });
    await until(
      'background: ReplicaSet and pods gone',
      async () =>
        (await t.c.list(PODS, n, { labelSelector: 'app=bg' })).items.length === 0 &&
        !(await t.c.list(REPLICASETS, n, { labelSelector: 'app=bg' })).items.length,
    );

    await t.c.delete(DEPLOYMENTS, n, 'orph', { propagationPolicy: 'Orphan' });
    await until('orphan: deployment gone', async () => !(await t.c.get(DEPLOYMENTS, n, 'orph')));
    const [orphaned] = (await t.c.list(REPLICASETS, n, { labelSelector: 'app=orph' })).items;
    assert.ok(orphaned, 'the ReplicaSet stays');
    assert.equal(orphaned.metadata.ownerReferences, undefined);
    assert.equal((await podsOf(n, 'app=orph')).length, 2, 'its pods stay');

    held.add('fg-');
    await t.c.delete(DEPLOYMENTS, n, 'fg', { propagationPolicy: 'Foreground' });
    const waiting = await until(
      'foreground: owner waits',
      async () => (await t.c.get(DEPLOYMENTS, n, 'fg'))?.metadata.finalizers?.includes('foregroundDeletion') && (await t.c.get(DEPLOYMENTS, n, 'fg')),
    );
    assert.ok(waiting.metadata.deletionTimestamp);
    await until('foreground: everything gone, owner last', async () => !(await t.c.get(DEPLOYMENTS, n, 'fg')));
    assert.equal((await t.c.list(PODS, n, { labelSelector: 'app=fg' })).items.length, 0, 'pods went before the owner');
    assert.equal((await t.c.list(REPLICASETS, n, { labelSelector: 'app=fg' })).items.length, 0);
  });

  test('garbage collection: an owner in another namespace counts as absent; a cluster-scoped dependent of a namespaced owner stays', async () => {
    const a = await ns('gc-a');
    const b = await ns('gc-b');
    const owner = await t.c.create(CONFIGMAPS, a, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'owner' } });
    const ref = { apiVersion: 'v1', kind: 'ConfigMap', name: 'owner', uid: owner.metadata.uid! };
    await t.c.create(CONFIGMAPS, a, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'same-ns', ownerReferences: [ref] } });
    await t.c.create(CONFIGMAPS, b, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'cross-ns', ownerReferences: [ref] } });
    await t.c.create(NAMESPACES, undefined, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'gc-cluster-dep', ownerReferences: [ref] } });
    await until('cross-namespace dependent collected', async () => !(await t.c.get(CONFIGMAPS, b, 'cross-ns')));
    await until('OwnerRefInvalidNamespace event', async () =>
      (await t.c.list(EVENTS, 'default')).items.some((e) => e.reason === 'OwnerRefInvalidNamespace' && e.involvedObject.name === 'gc-cluster-dep'),
    );
    assert.ok(await t.c.get(CONFIGMAPS, a, 'same-ns'), 'the same-namespace dependent stays');
    assert.ok(await t.c.get(NAMESPACES, undefined, 'gc-cluster-dep'), 'the cluster-scoped dependent is never collected');
    await t.c.delete(CONFIGMAPS, a, 'owner');
    await until('same-namespace dependent collected', async () => !(await t.c.get(CONFIGMAPS, a, 'same-ns')));
  });
});

test('garbage collection: the dependency graph is rebuilt after a server restart (SQLite)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'k8ts-gc-'));
  const opts = { dataDir: dir, store: 'sqlite' as const, listen: [{ host: '127.0.0.1', port: 0 }] };
  try {
    let s = await runServer(opts);
    let c = new RestClient(configFromKubeconfig(s.kubeconfigPath));
    const owner = await c.create(CONFIGMAPS, 'default', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'owner' } });
    const dep: ConfigMap = {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'dep', ownerReferences: [{ apiVersion: 'v1', kind: 'ConfigMap', name: 'owner', uid: owner.metadata.uid! }] },
    };
    await c.create(CONFIGMAPS, 'default', dep);
    await c.create(CONFIGMAPS, 'default', { ...dep, metadata: { ...dep.metadata, name: 'dep2' } });
    c.close();
    await s.close();
    s = await runServer(opts);
    c = new RestClient(configFromKubeconfig(s.kubeconfigPath));
    try {
      await c.delete(CONFIGMAPS, 'default', 'owner', { propagationPolicy: 'Foreground' });
      await until(
        'dependents and owner gone after the restart',
        async () =>
          !(await c.get(CONFIGMAPS, 'default', 'owner')) && !(await c.get(CONFIGMAPS, 'default', 'dep')) && !(await c.get(CONFIGMAPS, 'default', 'dep2')),
        30_000,
      );
    } finally {
      c.close();
      await s.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
