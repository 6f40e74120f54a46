import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Node } from '../api/types.js';
import { decoded } from '../testing/decoded.js';
import { readPeers } from './peers.js';

/** A node as the API hands it on: its address and pod CIDR are whatever a hostile writer put there, not
 *  necessarily strings (the point of these tests). */
const node = (name: string, address: unknown, podCIDR?: unknown): Node =>
  decoded<Node>({
    metadata: { name },
    spec: podCIDR === undefined ? {} : { podCIDR },
    status: {
      addresses: [
        { type: 'Hostname', address: name },
        { type: 'InternalIP', address },
      ],
    },
  });

test('peers: only fields that parse back to themselves reach the batches; one bad node leaves the others', () => {
  const { peers, rejected } = readPeers([
    node('good', '172.30.0.11', '10.244.1.0/24'),
    node('inject-ip', '192.0.2.9 dev lo\nroute flush all', '10.244.2.0/24'),
    node('inject-cidr', '172.30.0.13', '10.244.3.0/24 via 1.1.1.1\nflush ruleset'),
    node('octal', '010.30.0.14', '10.244.4.0/24'),
    node('host-bits', '172.30.0.15', '10.244.5.9/24'),
    node('not-a-string', { toString: () => '1.2.3.4' }, '10.244.6.0/24'),
    node('no-cidr-yet', '172.30.0.17'),
    { metadata: { name: 'no-address-yet' }, spec: {} },
  ]);
  assert.deepEqual(peers, [
    { name: 'good', nodeIP: '172.30.0.11', podCIDR: '10.244.1.0/24' },
    { name: 'no-cidr-yet', nodeIP: '172.30.0.17', podCIDR: '' },
  ]);
  assert.deepEqual([...rejected.keys()], ['inject-ip', 'inject-cidr', 'octal', 'host-bits', 'not-a-string']);
  assert.match(rejected.get('inject-ip')!, /^status\.addresses\[1\]\.address "192\.0\.2\.9 dev lo\\nroute flush all" is not an IPv4 address$/);
  assert.match(rejected.get('inject-cidr')!, /^spec\.podCIDR .* is not an IPv4 CIDR$/);
  assert.match(rejected.get('host-bits')!, /^spec\.podCIDR "10\.244\.5\.9\/24" is not an IPv4 CIDR/);
  for (const p of peers) assert.doesNotMatch(p.nodeIP + p.podCIDR, /[\s;]/);
});
