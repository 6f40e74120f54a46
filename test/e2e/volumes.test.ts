// Local persistent volumes on a real two-node cluster with the real kubectl: the default class, a claim
// provisioned on the node its first pod lands on, data written by one pod and read by the next on the same
// node, the claim protected while in use, the claim and volume readable only by their node's agent, and
// Delete reclaim removing the directory from the node through the provisioner's helper pod.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { clusterFixture, sh, skip, until } from './clusterkit.js';
import type { PersistentVolume, PersistentVolumeClaim, Pod } from '../../src/api/types.js';

const claim = `apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: data, namespace: pv1}
spec:
  accessModes: [ReadWriteOnce]
  resources: {requests: {storage: 64Mi}}
`;
const pod = (name: string, command: string) => `apiVersion: v1
kind: Pod
metadata: {name: ${name}, namespace: pv1}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: main
    image: busybox
    command: ["sh", "-c", ${JSON.stringify(command)}]
    volumeMounts: [{name: data, mountPath: /data}]
  volumes:
  - name: data
    persistentVolumeClaim: {claimName: data}
`;

describe('local persistent volumes on a real cluster', { skip }, () => {
  const cluster = clusterFixture('pvt');

  test('a claim written by one pod is read by the next on the same node; Delete reclaim removes the directory', async () => {
    const c = cluster();
    const sc = await c.ok(['get', 'storageclass']);
    assert.match(sc, /^local-path \(default\)\s+k8ts\.io\/local-path\s+Delete\s+WaitForFirstConsumer\s+false\s+/m);
    await c.ok(['create', 'namespace', 'pv1']);
    await c.ok(['apply', '-f', '-'], claim);
    assert.match(await c.ok(['-n', 'pv1', 'get', 'pvc', 'data']), /^data\s+Pending\s+local-path\s+/m);

    const secret = `note-${Date.now()}`;
    await c.ok(['apply', '-f', '-'], pod('writer', `echo ${secret} > /data/msg && sleep 3600`));
    await c.ok(['-n', 'pv1', 'wait', '--for=condition=Ready', 'pod/writer', '--timeout=120s']);
    const writer = JSON.parse(await c.ok(['-n', 'pv1', 'get', 'pod', 'writer', '-o', 'json'])) as Pod;
    const pvc = JSON.parse(await c.ok(['-n', 'pv1', 'get', 'pvc', 'data', '-o', 'json'])) as PersistentVolumeClaim;
    assert.equal(pvc.status?.phase, 'Bound');
    assert.equal(pvc.metadata.annotations?.['volume.kubernetes.io/selected-node'], writer.spec!.nodeName);
    const pv = JSON.parse(await c.ok(['get', 'pv', pvc.spec!.volumeName!, '-o', 'json'])) as PersistentVolume;
    const dir = pv.spec!.hostPath!.path;
    assert.equal(readFileSync(join(dir, 'msg'), 'utf8').trim(), secret, 'the data is in the node directory');
    assert.match(await c.ok(['get', 'pv']), new RegExp(`^${pv.metadata.name}\\s+64Mi\\s+RWO\\s+Delete\\s+Bound\\s+pv1/data\\s+local-path\\s+`, 'm'));

    await c.ok(['-n', 'pv1', 'delete', 'pod', 'writer']);
    await c.ok(['apply', '-f', '-'], pod('reader', 'sleep 3600'));
    await c.ok(['-n', 'pv1', 'wait', '--for=condition=Ready', 'pod/reader', '--timeout=120s']);
    const reader = JSON.parse(await c.ok(['-n', 'pv1', 'get', 'pod', 'reader', '-o', 'json'])) as Pod;
    assert.equal(reader.spec!.nodeName, writer.spec!.nodeName, 'the next pod goes where the volume is');
    assert.equal((await c.ok(['-n', 'pv1', 'exec', 'reader', '--', 'cat', '/data/msg'])).trim(), secret);

    // The agents' own certificates: the volume's node gets its claim and volume by name; the other node
    // gets neither, and no node lists volumes (upstream's Node authorizer).
    const server = /server:\s*(\S+)/.exec(readFileSync(c.kubeconfig, 'utf8'))![1];
    const ca = join(c.home, c.name, 'server', 'pki', 'ca.crt');
    const asNode = (node: string, path: string) => {
      const pki = join(c.home, c.name, 'agents', node, 'pki');
      const r = sh([
        'curl',
        '-s',
        '-w',
        '\n%{http_code}',
        '--cacert',
        ca,
        '--cert',
        join(pki, 'node-client.crt'),
        '--key',
        join(pki, 'node-client.key'),
        `${server}${path}`,
      ]).stdout;
      const at = r.lastIndexOf('\n');
      return { code: r.slice(at + 1), body: r.slice(0, at) };
    };
    const home = reader.spec!.nodeName!;
    const other = (c.plan.nodes as { name: string }[]).map((n) => n.name).find((n) => n !== home)!;
    assert.equal(asNode(home, `/api/v1/persistentvolumes/${pv.metadata.name}`).code, '200');
    assert.equal(asNode(home, '/api/v1/namespaces/pv1/persistentvolumeclaims/data').code, '200');
    const denied = asNode(other, `/api/v1/persistentvolumes/${pv.metadata.name}`);
    assert.equal(denied.code, '403');
    assert.equal(
      JSON.parse(denied.body).message,
      `persistentvolumes "${pv.metadata.name}" is forbidden: User "system:node:${other}" cannot get resource "persistentvolumes" in API group "" at the cluster scope: no relationship found between node '${other}' and this object`,
    );
    assert.equal(asNode(other, '/api/v1/namespaces/pv1/persistentvolumeclaims/data').code, '403');
    assert.equal(asNode(home, '/api/v1/persistentvolumes').code, '403');

    // In use: the claim's delete waits for the pod (pvc-protection).
    await c.ok(['-n', 'pv1', 'delete', 'pvc', 'data', '--wait=false']);
    const held = JSON.parse(await c.ok(['-n', 'pv1', 'get', 'pvc', 'data', '-o', 'json'])) as PersistentVolumeClaim;
    assert.ok(held.metadata.deletionTimestamp);
    assert.ok(existsSync(dir));
    await c.ok(['-n', 'pv1', 'delete', 'pod', 'reader']);
    await until('claim gone', async () => (await c.k(['-n', 'pv1', 'get', 'pvc', 'data'])).code !== 0, 60_000);
    await until('volume gone', async () => (await c.k(['get', 'pv', pv.metadata.name!])).code !== 0, 60_000);
    assert.equal(existsSync(dir), false, `${dir} removed by Delete reclaim`);
    // Removed by the provisioner's helper pod on that node (the node itself may not write volumes).
    const events = JSON.parse(await c.ok(['get', 'events', '-A', '--field-selector', `involvedObject.name=${pv.metadata.name}`, '-o', 'json'])).items;
    assert.ok(
      events.some((e: { reason: string; message: string }) => e.reason === 'VolumeDeleted' && e.message === `removed ${dir} on node ${home}`),
      JSON.stringify(events),
    );
    await until('helper pod gone', async () => (await c.k(['-n', 'kube-system', 'get', 'pod', `helper-pod-delete-${pv.metadata.name}`])).code !== 0, 30_000);
  });
});
