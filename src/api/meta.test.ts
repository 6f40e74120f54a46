import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateNameFrom, MAX_GENERATED_PREFIX, validateObjectMeta, validateObjectMetaUpdate } from './meta.js';
import { findResource } from './resources.js';
import type { KObject } from './types.js';
import { errorText } from './validation.js';

const pods = findResource('', 'v1', 'pods')!;
const namespaces = findResource('', 'v1', 'namespaces')!;
const services = findResource('', 'v1', 'services')!;
const events = findResource('', 'v1', 'events')!;
const nodes = findResource('', 'v1', 'nodes')!;

const obj = (metadata: Record<string, unknown>): KObject => ({ metadata });
const texts = (o: KObject, r = pods) => validateObjectMeta(o, r).map(errorText);

test('name rules per kind', () => {
  assert.deepEqual(texts(obj({ name: 'web.v1', namespace: 'default' })), []);
  assert.deepEqual(texts(obj({ name: 'Web', namespace: 'default' })), [
    `metadata.name: Invalid value: "Web": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')`,
  ]);
  // Namespaces are DNS-1123 labels: no dots.
  assert.deepEqual(texts(obj({ name: 'a.b' }), namespaces), ['metadata.name: Invalid value: "a.b": must not contain dots']);
  // Services are DNS-1035 labels: a leading digit is refused.
  assert.equal(texts(obj({ name: '1web', namespace: 'default' }), services).length, 1);
  assert.match(texts(obj({ name: '1web', namespace: 'default' }), services)[0], /^metadata\.name: Invalid value: "1web": a DNS-1035 label must/);
  // Events only need a usable path segment.
  assert.deepEqual(texts(obj({ name: 'Web.17A_b', namespace: 'default' }), events), []);
  assert.deepEqual(texts(obj({ name: 'a/b', namespace: 'default' }), events), ['metadata.name: Invalid value: "a/b": may not contain \'/\'']);
  assert.deepEqual(texts(obj({ name: '..', namespace: 'default' }), events), ['metadata.name: Invalid value: "..": may not be \'..\'']);
});

test('name or generateName is required; generateName may end in a dash', () => {
  assert.deepEqual(texts(obj({ namespace: 'default' })), ['metadata.name: Required value: name or generateName is required']);
  assert.deepEqual(texts(obj({ generateName: 'web-', name: 'web-x7k2p', namespace: 'default' })), []);
  assert.equal(texts(obj({ generateName: 'Web-', name: 'web-x7k2p', namespace: 'default' })).length, 1);
  assert.match(texts(obj({ generateName: 'Web-', name: 'web-x7k2p', namespace: 'default' }))[0], /^metadata\.generateName: Invalid value: "Web-"/);
});

test('namespace is required for namespaced kinds and refused for cluster-scoped ones', () => {
  assert.deepEqual(texts(obj({ name: 'web' })), ['metadata.namespace: Required value']);
  assert.deepEqual(texts(obj({ name: 'web', namespace: 'Bad' })).length, 1);
  assert.deepEqual(texts(obj({ name: 'node1', namespace: 'default' }), nodes), ['metadata.namespace: Forbidden: not allowed on this type']);
  assert.deepEqual(texts(obj({ name: 'node1' }), nodes), []);
});

test('labels, annotations, generation, owner references and finalizers', () => {
  const base = { name: 'web', namespace: 'default' };
  assert.deepEqual(texts(obj({ ...base, generation: -1 })), ['metadata.generation: Invalid value: -1: must be greater than or equal to 0']);
  assert.deepEqual(texts(obj({ ...base, labels: { app: 'a b' } })).length, 1);
  assert.deepEqual(texts(obj({ ...base, annotations: { 'a b': 'x' } })).length, 1);
  assert.deepEqual(texts(obj({ ...base, ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'rs', uid: 'u', controller: true }] })), []);
  assert.deepEqual(texts(obj({ ...base, ownerReferences: [{ apiVersion: '', kind: '', name: '', uid: '' }] })), [
    'metadata.ownerReferences.apiVersion: Invalid value: "": version must not be empty',
    'metadata.ownerReferences.kind: Invalid value: "": kind must not be empty',
    'metadata.ownerReferences.name: Invalid value: "": name must not be empty',
    'metadata.ownerReferences.uid: Invalid value: "": uid must not be empty',
  ]);
  const two = texts(
    obj({
      ...base,
      ownerReferences: [
        { apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'a', uid: '1', controller: true },
        { apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'b', uid: '2', controller: true },
      ],
    }),
  );
  assert.equal(two.length, 1);
  assert.match(two[0], /Only one reference can have Controller set to true\. Found "true" in references for ReplicaSet\/a and ReplicaSet\/b$/);
  assert.match(
    texts(obj({ ...base, ownerReferences: [{ apiVersion: 'v1', kind: 'Event', name: 'e', uid: '1' }] }))[0],
    /^metadata\.ownerReferences: Invalid value: v1\.OwnerReference\{APIVersion:"v1", Kind:"Event".*: \/v1, Kind=Event is disallowed from being an owner$/,
  );
  assert.deepEqual(texts(obj({ ...base, finalizers: ['example.com/cleanup', 'kubernetes', 'foregroundDeletion'] })), []);
  assert.deepEqual(texts(obj({ ...base, finalizers: ['cleanup'] })), [
    'metadata.finalizers[0]: Invalid value: "cleanup": name is neither a standard finalizer name nor is it fully qualified',
  ]);
  assert.deepEqual(texts(obj({ ...base, finalizers: ['orphan', 'foregroundDeletion'] })), [
    'metadata.finalizers: Invalid value: []string{"orphan", "foregroundDeletion"}: finalizer orphan and foregroundDeletion cannot be both set',
  ]);
});

test('update: identity fields are immutable, generation not decremented, no finalizers added while deleting', () => {
  const old = obj({ name: 'web', namespace: 'default', uid: 'u1', creationTimestamp: '2024-05-01T10:00:00Z', generation: 3 });
  assert.deepEqual(validateObjectMetaUpdate(structuredClone(old), old), []);
  const changed = obj({ name: 'web2', namespace: 'other', uid: 'u2', creationTimestamp: '2024-05-02T11:30:00Z', generation: 2 });
  assert.deepEqual(validateObjectMetaUpdate(changed, old).map(errorText), [
    'metadata.generation: Invalid value: 2: must not be decremented',
    'metadata.name: Invalid value: "web2": field is immutable',
    'metadata.namespace: Invalid value: "other": field is immutable',
    'metadata.uid: Invalid value: "u2": field is immutable',
    'metadata.creationTimestamp: Invalid value: 2024-05-02 11:30:00 +0000 UTC: field is immutable',
  ]);
  const deleting = obj({ name: 'web', deletionTimestamp: '2024-05-01T10:00:00Z', finalizers: ['a/x'] });
  const more = obj({ name: 'web', deletionTimestamp: '2024-05-01T10:00:00Z', finalizers: ['a/x', 'b/y', 'a/z'] });
  assert.deepEqual(validateObjectMetaUpdate(more, deleting).map(errorText), [
    'metadata.finalizers: Forbidden: no new finalizers can be added if the object is being deleted, found new finalizers []string{"a/z", "b/y"}',
  ]);
  const fewer = obj({ name: 'web', deletionTimestamp: '2024-05-01T10:00:00Z' });
  assert.deepEqual(validateObjectMetaUpdate(fewer, deleting), []);
});

test('generateName adds five characters from the safe alphabet after at most 58 of the prefix', () => {
  const name = generateNameFrom('web-');
  assert.match(name, /^web-[bcdfghjklmnpqrstvwxz2456789]{5}$/);
  const long = generateNameFrom('x'.repeat(70), () => 0);
  assert.equal(long, 'x'.repeat(MAX_GENERATED_PREFIX) + 'bbbbb');
  assert.equal(long.length, 63);
});
