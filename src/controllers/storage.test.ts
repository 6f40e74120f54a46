// Persistent volumes against a real API server (memory store) and the real controllers: validation and
// defaults of PV, PVC and StorageClass, the default class, static binding and Retain, WaitForFirstConsumer
// with the scheduler's selected node and the local-path provisioner, node affinity for the next pod,
// the pvc/pv-protection finalizers and Delete reclaim held by the cleanup finalizer until the provisioner's
// helper pod has removed the directory on the volume's node.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { EVENTS, NODES, PERSISTENTVOLUMECLAIMS, PERSISTENTVOLUMES, PODS, STORAGECLASSES } from '../api/kinds.js';
import type { KObject, PersistentVolume, PersistentVolumeClaim, Pod } from '../api/types.js';
import { LOCAL_PATH_CLEANUP_FINALIZER, localPathFor } from '../api/localpath.js';
import { ClientError } from '../client/types.js';
import { eventually, startCluster, type TestCluster } from './testutil.js';
import { HELPER_NAMESPACE, helperPodName } from './localpath.js';
import { basename, dirname } from 'node:path';

function nodeObj(name: string): KObject {
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name, labels: { 'kubernetes.io/hostname': name } },
    status: {
      capacity: { pods: '10' },
      allocatable: { pods: '10' },
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
const pv = (name: string, size: string, extra: Record<string, unknown> = {}) =>
  ({
    apiVersion: 'v1',
    kind: 'PersistentVolume',
    metadata: { name, labels: { disk: name } },
    spec: { capacity: { storage: size }, accessModes: ['ReadWriteOnce'], storageClassName: 'manual', hostPath: { path: `/tmp/k8ts-test-${name}` }, ...extra },
  }) as PersistentVolume;
const pvc = (name: string, size: string, spec: Record<string, unknown> = {}) =>
  ({
    apiVersion: 'v1',
    kind: 'PersistentVolumeClaim',
    metadata: { name },
    spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: size } }, ...spec },
  }) as PersistentVolumeClaim;
const podWith = (name: string, claim: string) =>
  ({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name },
    spec: { containers: [{ name: 'c', image: 'busybox' }], volumes: [{ name: 'data', persistentVolumeClaim: { claimName: claim } }] },
  }) as Pod;

describe('persistent volumes', () => {
  let t: TestCluster;
  const NS = 'default';
  before(async () => {
    t = await startCluster();
  });
  after(async () => t?.close());

  const rejects = (p: Promise<unknown>, code: number, msg: RegExp) =>
    assert.rejects(p, (e: unknown) => {
      assert.ok(e instanceof ClientError, `expected an API error, got ${e}`);
      assert.equal(e.code, code, e.message);
      assert.match(e.message, msg);
      return true;
    });

  test('the default class local-path exists: k8ts.io/local-path, WaitForFirstConsumer, Delete', async () => {
    const sc = (await t.c.get(STORAGECLASSES, undefined, 'local-path'))!;
    assert.equal(sc.provisioner, 'k8ts.io/local-path');
    assert.equal(sc.volumeBindingMode, 'WaitForFirstConsumer');
    assert.equal(sc.reclaimPolicy, 'Delete');
    assert.equal(sc.metadata.annotations?.['storageclass.kubernetes.io/is-default-class'], 'true');
  });

  test('validation refuses what cannot be served, with the field named', async () => {
    await rejects(t.c.create(PERSISTENTVOLUMES, undefined, pv('nocap', '1Gi', { capacity: {} })), 422, /spec\.capacity\[storage\]: Required value/);
    await rejects(
      t.c.create(PERSISTENTVOLUMES, undefined, pv('nfs', '1Gi', { hostPath: undefined, nfs: { server: 'x', path: '/' } })),
      422,
      /spec\.nfs: Unsupported value/,
    );
    await rejects(t.c.create(PERSISTENTVOLUMES, undefined, pv('two', '1Gi', { local: { path: '/x' } })), 422, /may not specify more than 1 volume type/);
    await rejects(
      t.c.create(PERSISTENTVOLUMES, undefined, pv('dots', '1Gi', { hostPath: { path: '/var/../etc' } })),
      422,
      /spec\.hostPath\.path.*must not contain '\.\.'/,
    );
    await rejects(t.c.create(PERSISTENTVOLUMES, undefined, pv('rel', '1Gi', { hostPath: { path: 'data' } })), 422, /must be an absolute path/);
    await rejects(t.c.create(PERSISTENTVOLUMES, undefined, pv('badsize', 'lots')), 422, /spec\.capacity\[storage\]/);
    await rejects(
      t.c.create(PERSISTENTVOLUMES, undefined, pv('mode', '1Gi', { accessModes: ['ReadWriteSometimes'] })),
      422,
      /spec\.accessModes\[0\]: Unsupported value/,
    );
    await rejects(t.c.create(PERSISTENTVOLUMECLAIMS, NS, pvc('nomodes', '1Gi', { accessModes: [] })), 422, /spec\.accessModes: Required value/);
    await rejects(t.c.create(PERSISTENTVOLUMECLAIMS, NS, pvc('nosize', '1Gi', { resources: {} })), 422, /spec\.resources\[storage\]: Required value/);
    await rejects(
      t.c.create(STORAGECLASSES, undefined, { apiVersion: 'storage.k8s.io/v1', kind: 'StorageClass', metadata: { name: 'bad' }, provisioner: 'Not A Name' }),
      422,
      /provisioner/,
    );
    await rejects(
      t.c.create(STORAGECLASSES, undefined, {
        apiVersion: 'storage.k8s.io/v1',
        kind: 'StorageClass',
        metadata: { name: 'bad' },
        provisioner: 'x.io/y',
        volumeBindingMode: 'Later',
      }),
      422,
      /volumeBindingMode: Unsupported value/,
    );
    const sc = (await t.c.get(STORAGECLASSES, undefined, 'local-path'))!;
    await rejects(t.c.update(STORAGECLASSES, undefined, { ...sc, provisioner: 'other.io/x' }), 422, /provisioner: Invalid value.*field is immutable/);
    const c = await t.c.create(PERSISTENTVOLUMECLAIMS, NS, pvc('immut', '1Gi', { storageClassName: 'manual' }));
    await rejects(t.c.update(PERSISTENTVOLUMECLAIMS, NS, { ...c, spec: { ...c.spec, accessModes: ['ReadOnlyMany'] } }), 422, /spec is immutable/);
    await t.c.delete(PERSISTENTVOLUMECLAIMS, NS, 'immut');
  });

  test('static binding: the smallest fitting volume, both Bound; Retain leaves it Released', async () => {
    await t.c.create(PERSISTENTVOLUMES, undefined, pv('big', '5Gi'));
    const small = await t.c.create(PERSISTENTVOLUMES, undefined, pv('small', '1Gi'));
    assert.equal(small.spec!.persistentVolumeReclaimPolicy, 'Retain');
    assert.equal(small.spec!.volumeMode, 'Filesystem');
    assert.deepEqual(small.metadata.finalizers, ['kubernetes.io/pv-protection']);
    await eventually('Available', async () => (await t.c.get(PERSISTENTVOLUMES, undefined, 'small'))?.status?.phase === 'Available');
    const c = await t.c.create(PERSISTENTVOLUMECLAIMS, NS, pvc('static', '500Mi', { storageClassName: 'manual' }));
    assert.deepEqual(c.metadata.finalizers, ['kubernetes.io/pvc-protection']);
    const bound = await eventually('claim Bound', async () => {
      const x = await t.c.get(PERSISTENTVOLUMECLAIMS, NS, 'static');
      return x?.status?.phase === 'Bound' && x;
    });
    assert.equal(bound.spec!.volumeName, 'small');
    assert.equal(bound.status!.capacity!.storage, '1Gi');
    const v = (await t.c.get(PERSISTENTVOLUMES, undefined, 'small'))!;
    assert.equal(v.spec!.claimRef!.uid, c.metadata.uid);
    await eventually('volume Bound', async () => (await t.c.get(PERSISTENTVOLUMES, undefined, 'small'))?.status?.phase === 'Bound');
    // A bound volume is protected: its delete waits for the claim to let go.
    await t.c.delete(PERSISTENTVOLUMES, undefined, 'small');
    assert.ok((await t.c.get(PERSISTENTVOLUMES, undefined, 'small'))?.metadata.deletionTimestamp);
    await t.c.delete(PERSISTENTVOLUMECLAIMS, NS, 'static');
    await eventually('claim gone', async () => !(await t.c.get(PERSISTENTVOLUMECLAIMS, NS, 'static')));
    await eventually('released volume deleted', async () => !(await t.c.get(PERSISTENTVOLUMES, undefined, 'small')));
    // The other keeps Retain semantics: bound, its claim deleted, it is Released and stays.
    await t.c.create(PERSISTENTVOLUMECLAIMS, NS, pvc('keep', '2Gi', { storageClassName: 'manual' }));
    await eventually('big bound', async () => (await t.c.get(PERSISTENTVOLUMES, undefined, 'big'))?.status?.phase === 'Bound');
    await t.c.delete(PERSISTENTVOLUMECLAIMS, NS, 'keep');
    await eventually('big Released', async () => (await t.c.get(PERSISTENTVOLUMES, undefined, 'big'))?.status?.phase === 'Released');
    await t.c.delete(PERSISTENTVOLUMES, undefined, 'big');
    await eventually('big gone', async () => !(await t.c.get(PERSISTENTVOLUMES, undefined, 'big')));
  });

  test('WaitForFirstConsumer: the scheduler picks the node, local-path provisions there, the next pod follows the volume', async () => {
    await t.c.create(NODES, undefined, nodeObj('lp1'));
    await t.c.create(NODES, undefined, nodeObj('lp2'));
    const c = await t.c.create(PERSISTENTVOLUMECLAIMS, NS, pvc('data', '64Mi'));
    assert.equal(c.spec!.storageClassName, 'local-path', 'DefaultStorageClass fills the class');
    await eventually('WaitForFirstConsumer event', async () =>
      (await t.c.list(EVENTS, NS, { fieldSelector: 'involvedObject.name=data' })).items.some((e) => e.reason === 'WaitForFirstConsumer'),
    );
    assert.equal((await t.c.get(PERSISTENTVOLUMECLAIMS, NS, 'data'))!.status!.phase, 'Pending');

    await t.c.create(PODS, NS, podWith('writer', 'data'));
    const node = await eventually<string>('writer bound', async () => (await t.c.get(PODS, NS, 'writer'))?.spec?.nodeName);
    const bound = await eventually('claim Bound', async () => {
      const x = await t.c.get(PERSISTENTVOLUMECLAIMS, NS, 'data');
      return x?.status?.phase === 'Bound' && x;
    });
    assert.equal(bound.metadata.annotations!['volume.kubernetes.io/selected-node'], node);
    const v = (await t.c.get(PERSISTENTVOLUMES, undefined, bound.spec!.volumeName!))!;
    assert.equal(v.metadata.name, `pvc-${c.metadata.uid}`);
    assert.equal(v.spec!.hostPath!.path, localPathFor(c.metadata.uid!, NS, 'data'));
    assert.equal(v.spec!.hostPath!.type, 'DirectoryOrCreate');
    assert.equal(v.spec!.persistentVolumeReclaimPolicy, 'Delete');
    assert.deepEqual(v.spec!.nodeAffinity!.required!.nodeSelectorTerms[0].matchExpressions, [
      { key: 'kubernetes.io/hostname', operator: 'In', values: [node] },
    ]);
    assert.deepEqual([...v.metadata.finalizers!].sort(), [LOCAL_PATH_CLEANUP_FINALIZER, 'kubernetes.io/pv-protection'].sort());

    // The claim is in use: deleting it waits for the pod.
    await t.c.delete(PODS, NS, 'writer', { gracePeriodSeconds: 0 });
    await eventually('writer gone', async () => !(await t.c.get(PODS, NS, 'writer')));
    // A new pod with the same claim goes where the volume is, whatever the load elsewhere.
    for (let i = 0; i < 3; i++)
      await t.c.create(PODS, NS, {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: `filler-${i}` },
        spec: { nodeName: node, containers: [{ name: 'c', image: 'busybox' }] },
      } as Pod);
    await t.c.create(PODS, NS, podWith('reader', 'data'));
    assert.equal(await eventually('reader bound', async () => (await t.c.get(PODS, NS, 'reader'))?.spec?.nodeName), node);
    await t.c.delete(PERSISTENTVOLUMECLAIMS, NS, 'data');
    await new Promise((r) => setTimeout(r, 300));
    assert.ok((await t.c.get(PERSISTENTVOLUMECLAIMS, NS, 'data'))?.metadata.deletionTimestamp, 'pvc-protection holds the claim while a pod uses it');
    await t.c.delete(PODS, NS, 'reader', { gracePeriodSeconds: 0 });
    await eventually('claim gone', async () => !(await t.c.get(PERSISTENTVOLUMECLAIMS, NS, 'data')));
    // Delete reclaim: the volume is deleted and waits for its node to clean the directory.
    const held = await eventually('volume deleting', async () => {
      const x = await t.c.get(PERSISTENTVOLUMES, undefined, v.metadata.name!);
      return x?.metadata.deletionTimestamp ? x : undefined;
    });
    assert.deepEqual(held.metadata.finalizers, [LOCAL_PATH_CLEANUP_FINALIZER]);
    // The provisioner, not the node, cleans: a helper pod on the volume's node removes the one directory
    // recomputed from the claim (as rancher's local-path-provisioner), with nothing of the API in it.
    const helper = await eventually('helper pod', async () => t.c.get(PODS, HELPER_NAMESPACE, helperPodName(v.metadata.name!)));
    const dir = localPathFor(c.metadata.uid!, NS, 'data')!;
    assert.equal(helper.spec!.nodeName, node);
    assert.equal(helper.spec!.restartPolicy, 'Never');
    assert.equal(helper.spec!.automountServiceAccountToken, false);
    assert.deepEqual(helper.spec!.volumes, [{ name: 'data', hostPath: { path: dirname(dir), type: 'DirectoryOrCreate' } }]);
    assert.deepEqual(helper.spec!.containers[0].command, ['sh', '-c', 'rm -rf -- "/data/$VOL_DIR"']);
    assert.deepEqual(helper.spec!.containers[0].env, [{ name: 'VOL_DIR', value: basename(dir) }]);
    assert.deepEqual(
      helper.metadata.ownerReferences?.map((o) => [o.kind, o.name, o.uid]),
      [['PersistentVolume', v.metadata.name, v.metadata.uid]],
    );
    // Until it has succeeded the volume stays; then the finalizer and the helper go.
    await new Promise((r) => setTimeout(r, 300));
    assert.ok(await t.c.get(PERSISTENTVOLUMES, undefined, v.metadata.name!), 'held while the helper runs');
    await t.c.patch(PODS, HELPER_NAMESPACE, helper.metadata.name!, 'merge', { status: { phase: 'Succeeded' } }, 'status');
    await eventually('volume gone', async () => !(await t.c.get(PERSISTENTVOLUMES, undefined, v.metadata.name!)));
    await eventually('helper gone', async () => !(await t.c.get(PODS, HELPER_NAMESPACE, helperPodName(v.metadata.name!))));
    assert.ok((await t.c.list(EVENTS, undefined, { fieldSelector: `involvedObject.name=${v.metadata.name}` })).items.some((e) => e.reason === 'VolumeDeleted'));
    await t.c.delete(NODES, undefined, node);
    for (let i = 0; i < 3; i++) await t.c.delete(PODS, NS, `filler-${i}`, { gracePeriodSeconds: 0 }).catch(() => {});
  });

  test("a deleted local-path volume: node gone, released at once; a path not the claim's, nothing run on the node", async () => {
    await t.c.create(NODES, undefined, nodeObj('lp3'));
    const uid = '0b5c3a5e-1f2d-4c3b-9a8e-7d6c5b4a3f21';
    const local = (name: string, node: string, path: string) =>
      ({
        apiVersion: 'v1',
        kind: 'PersistentVolume',
        metadata: {
          name,
          finalizers: [LOCAL_PATH_CLEANUP_FINALIZER],
          annotations: { 'pv.kubernetes.io/provisioned-by': 'k8ts.io/local-path', 'local.path.provisioner/selected-node': node },
        },
        spec: {
          capacity: { storage: '1Gi' },
          accessModes: ['ReadWriteOnce'],
          storageClassName: 'gone',
          persistentVolumeReclaimPolicy: 'Delete',
          hostPath: { path, type: 'DirectoryOrCreate' },
          claimRef: { kind: 'PersistentVolumeClaim', namespace: NS, name: 'old', uid },
        },
      }) as PersistentVolume;
    // Hostile: the volume says /etc; the directory its claim names is another. Nothing is removed anywhere.
    await t.c.create(PERSISTENTVOLUMES, undefined, local('lp-hostile', 'lp3', '/etc'));
    await t.c.delete(PERSISTENTVOLUMES, undefined, 'lp-hostile');
    await eventually('hostile volume released', async () => !(await t.c.get(PERSISTENTVOLUMES, undefined, 'lp-hostile')));
    assert.equal(await t.c.get(PODS, HELPER_NAMESPACE, helperPodName('lp-hostile')), undefined, "no helper pod for a path not the claim's");
    const ev = (await t.c.list(EVENTS, undefined, { fieldSelector: 'involvedObject.name=lp-hostile' })).items;
    assert.ok(
      ev.some((e) => e.reason === 'VolumeFailedDelete' && /not the one its claim names/.test(e.message ?? '')),
      JSON.stringify(ev),
    );
    // The node is gone: nobody can clean, the volume goes at once.
    await t.c.create(PERSISTENTVOLUMES, undefined, local('lp-orphan', 'no-such-node', localPathFor(uid, NS, 'old')!));
    await t.c.delete(PERSISTENTVOLUMES, undefined, 'lp-orphan');
    await eventually('orphan volume released', async () => !(await t.c.get(PERSISTENTVOLUMES, undefined, 'lp-orphan')));
    assert.equal(await t.c.get(PODS, HELPER_NAMESPACE, helperPodName('lp-orphan')), undefined);
    await t.c.delete(NODES, undefined, 'lp3');
  });

  test('a pod whose claim is missing or Immediate-unbound stays Pending with the reason', async () => {
    await t.c.create(PODS, NS, podWith('orphan', 'nope'));
    const ev = await eventually('FailedScheduling', async () =>
      (await t.c.list(EVENTS, NS, { fieldSelector: 'involvedObject.name=orphan' })).items.find((e) => e.reason === 'FailedScheduling'),
    );
    assert.match(ev.message ?? '', /persistentvolumeclaim "nope" not found/);
    await t.c.create(PERSISTENTVOLUMECLAIMS, NS, pvc('nope', '1Gi', { storageClassName: 'manual' }));
    const ev2 = await eventually('unbound immediate', async () =>
      (await t.c.list(EVENTS, NS, { fieldSelector: 'involvedObject.name=orphan' })).items.find((e) => /unbound immediate/.test(e.message ?? '')),
    );
    assert.ok(ev2);
    // A volume appears: the claim binds and the pod is scheduled without anyone touching it.
    await t.c.create(PERSISTENTVOLUMES, undefined, pv('late', '1Gi'));
    assert.ok(await eventually('orphan bound', async () => (await t.c.get(PODS, NS, 'orphan'))?.spec?.nodeName));
    await t.c.delete(PODS, NS, 'orphan', { gracePeriodSeconds: 0 });
    await t.c.delete(PERSISTENTVOLUMECLAIMS, NS, 'nope');
  });
});
