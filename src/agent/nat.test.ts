// The masquerade table in a network namespace of the test's own: written whole first, its node set's changes
// by one netlink batch through the node helper, the whole table again on resync or when the kernel refuses.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it, test } from 'node:test';
import { spawnRun } from '../util/exec.js';
import { NodeHelper } from './helper.js';
import { Masquerade, NAT_TABLE } from './nat.js';
import { addressSetBatch, ElementError } from './proxy/nfnl.js';

const root = process.getuid?.() === 0;
const name = `k8ts-nat-${process.pid}-${Date.now().toString(36)}`;
const ns = `/run/netns/${name}`;
const dir = mkdtempSync(join(tmpdir(), 'k8ts-nat-'));
const helper = new NodeHelper(dir);
const nft = (...a: string[]) => spawnRun(['ip', 'netns', 'exec', name, 'nft', ...a]);

/** The node set as the kernel holds it, sorted. */
async function nodeSet(): Promise<string[]> {
  const { stdout } = await nft('-j', 'list', 'set', 'ip', NAT_TABLE, 'nodes');
  const set = (JSON.parse(stdout).nftables as { set?: { elem?: string[] } }[]).find((x) => x.set)!.set!;
  return [...(set.elem ?? [])].sort();
}

test('the node set batch: deletes, then adds; every address proven first', () => {
  const b = addressSetBatch(NAT_TABLE, 'nodes', ['172.30.0.12'], ['172.30.0.13']);
  // begin, DELSETELEM, NEWSETELEM, end: the message types at each header (nfnetlink subsystem 10 << 8).
  const types: number[] = [];
  for (let at = 0; at < b.length; at += (b.readUInt32LE(at) + 3) & ~3) types.push(b.readUInt16LE(at + 4));
  assert.deepEqual(types, [0x10, (10 << 8) | 14, (10 << 8) | 12, 0x11]);
  for (const bad of ['172.30.0.256', '172.30.0', '1.2.3.4 . 5.6.7.8', '01.2.3.4', '']) {
    assert.throws(
      () => addressSetBatch(NAT_TABLE, 'nodes', [bad], []),
      (e: unknown) => e instanceof ElementError && e.message.includes(JSON.stringify(bad)),
    );
  }
  assert.throws(() => addressSetBatch(NAT_TABLE, 'no des', ['1.2.3.4'], []), ElementError);
});

describe('the masquerade table', { skip: !root && 'needs root (a network namespace)' }, () => {
  before(async () => {
    await spawnRun(['ip', 'netns', 'add', name]);
  });
  after(async () => {
    await helper.close();
    await spawnRun(['ip', 'netns', 'del', name]).catch(() => {});
    rmSync(dir, { recursive: true, force: true });
  });

  it('is written whole first, then a joining or leaving node is one batch of the set; lost rules come back', async () => {
    const logged: string[] = [];
    const m = new Masquerade({ helper, netns: ns, log: (l) => logged.push(l) });
    const cfg = (...nodeIPs: string[]) => ({ clusterCIDR: '10.244.0.0/16', nodeIPs });
    await m.sync(cfg('172.30.0.11', '172.30.0.11'));
    assert.deepEqual(await nodeSet(), ['172.30.0.11']);
    assert.deepEqual(m.stats, { full: 1, bySet: 0, setRefused: 0 });
    // A peer registers, then another; one leaves.
    await m.sync(cfg('172.30.0.11', '172.30.0.12'));
    await m.sync(cfg('172.30.0.11', '172.30.0.12', '172.30.0.13'));
    await m.sync(cfg('172.30.0.11', '172.30.0.13'));
    assert.deepEqual(await nodeSet(), ['172.30.0.11', '172.30.0.13']);
    assert.deepEqual(m.stats, { full: 1, bySet: 3, setRefused: 0 });
    // Nothing changed: nothing sent.
    await m.sync(cfg('172.30.0.13', '172.30.0.11'));
    assert.deepEqual(m.stats, { full: 1, bySet: 3, setRefused: 0 });
    // The rule is the table's own, untouched by the set's changes.
    assert.match(
      (await nft('list', 'table', 'ip', NAT_TABLE)).stdout,
      /ip saddr 10\.244\.0\.0\/16 ip daddr != 10\.244\.0\.0\/16 ip daddr != @nodes masquerade/,
    );
    // The table removed behind the agent's back: the next change is refused, and the table is written whole.
    await nft('delete', 'table', 'ip', NAT_TABLE);
    await m.sync(cfg('172.30.0.11', '172.30.0.12', '172.30.0.13'));
    assert.deepEqual(await nodeSet(), ['172.30.0.11', '172.30.0.12', '172.30.0.13']);
    assert.deepEqual(m.stats, { full: 2, bySet: 3, setRefused: 1 });
    assert.match(logged.join('\n'), /the node set's change was refused .*writing the table whole/);
    // A resync writes it whole whatever it last did, so an element removed by hand comes back.
    await nft('delete', 'element', 'ip', NAT_TABLE, 'nodes', '{ 172.30.0.12 }');
    await m.sync(cfg('172.30.0.11', '172.30.0.12', '172.30.0.13'), true);
    assert.deepEqual(await nodeSet(), ['172.30.0.11', '172.30.0.12', '172.30.0.13']);
    assert.equal(m.stats.full, 3);
  });

  it('without a helper it writes the table whole every time', async () => {
    const m = new Masquerade({ helper: null, netns: ns });
    await m.sync({ clusterCIDR: '10.244.0.0/16', nodeIPs: ['172.30.0.11'] });
    await m.sync({ clusterCIDR: '10.244.0.0/16', nodeIPs: ['172.30.0.11', '172.30.0.14'] });
    assert.deepEqual(await nodeSet(), ['172.30.0.11', '172.30.0.14']);
    assert.deepEqual(m.stats, { full: 2, bySet: 0, setRefused: 0 });
  });
});
