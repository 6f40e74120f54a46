// The IP and port allocators on a memory store: ranges, requested values, exhaustion, release and reuse,
// the static band, take-over by the same owner, and concurrent allocation.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryStore } from '../../store/memory.js';
import { ClusterIPAllocator } from './clusterip.js';
import { NodePortAllocator, parsePortRange } from './nodeport.js';
import { AllocationError, staticBand } from './range.js';
import type { ClaimOwner } from './claims.js';

const owner = (n: number | string): ClaimOwner => ({ namespace: 'default', name: `s${n}`, uid: `uid-${n}` });

function code(e: unknown): string | undefined {
  return e instanceof AllocationError ? e.code : undefined;
}

describe('ClusterIPAllocator', () => {
  test('the range excludes the network and broadcast addresses; nth(1) is the first usable address', () => {
    const a = new ClusterIPAllocator(new MemoryStore(), '10.96.0.0/16');
    assert.equal(a.size, 65534);
    assert.equal(a.band, 256);
    assert.equal(a.nth(1), '10.96.0.1');
    assert.equal(a.nth(10), '10.96.0.10');
    assert.equal(a.contains('10.96.0.0'), false);
    assert.equal(a.contains('10.96.255.255'), false);
    assert.equal(a.contains('10.96.255.254'), true);
    assert.equal(a.contains('10.97.0.1'), false);
    assert.equal(a.contains('not-an-ip'), false);
    assert.equal(a.networkAddress, '10.96.0.0');
  });

  test('bad service CIDRs fail with a message naming the CIDR', () => {
    assert.throws(() => new ClusterIPAllocator(new MemoryStore(), '10.96.0.1/16'), /10\.96\.0\.1\/16.*host bits set/);
    assert.throws(() => new ClusterIPAllocator(new MemoryStore(), '10.96.0.0/31'), /between \/8 and \/30/);
    assert.throws(() => new ClusterIPAllocator(new MemoryStore(), 'fd00::/108'), /expected an IPv4 CIDR/);
  });

  test("a requested IP is honoured when free and in range, with Kubernetes' errors otherwise", async () => {
    const a = new ClusterIPAllocator(new MemoryStore(), '10.96.0.0/16');
    const got = await a.allocate('10.96.0.10', owner(1));
    assert.equal(got.value, '10.96.0.10');
    assert.equal(got.adopted, false);
    await assert.rejects(a.allocate('10.96.0.10', owner(2)), (e) => code(e) === 'Allocated' && (e as Error).message === 'provided IP is already allocated');
    await assert.rejects(
      a.allocate('10.0.0.5', owner(2)),
      (e) =>
        code(e) === 'NotInRange' && (e as Error).message === 'the provided IP (10.0.0.5) is not in the valid range. The range of valid IPs is 10.96.0.0/16',
    );
    await assert.rejects(a.allocate('10.96.0.0', owner(2)), (e) => code(e) === 'NotInRange');
    // The same owner asking again takes its claim over (a retried write of the same service).
    const again = await a.allocate('10.96.0.10', owner(1));
    assert.equal(again.adopted, true);
    assert.ok(again.claim.revision > got.claim.revision);
  });

  test('dynamic allocation prefers the upper part of the range and uses the static band last', async () => {
    // A /27: 30 usable addresses, a static band of 16 (min(max(16, 32/16), 256)).
    const a = new ClusterIPAllocator(new MemoryStore(), '10.0.0.0/27');
    assert.equal(a.band, 16);
    const order: number[] = [];
    for (let i = 0; i < 30; i++) order.push(a.offsetOf((await a.allocateNext(owner(i))).value)!);
    assert.deepEqual(
      order.slice(0, 14).sort((x, y) => x - y),
      [16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29],
    );
    assert.deepEqual(
      order.slice(14).sort((x, y) => x - y),
      [...Array(16).keys()],
    );
    await assert.rejects(a.allocateNext(owner(99)), (e) => code(e) === 'Full' && (e as Error).message === 'range is full');
  });

  test('exhaustion, release and reuse', async () => {
    const store = new MemoryStore();
    const a = new ClusterIPAllocator(store, '192.168.7.0/29');
    assert.equal(a.size, 6);
    assert.equal(a.band, 0);
    const got = new Set<string>();
    for (let i = 0; i < 6; i++) got.add((await a.allocateNext(owner(i))).value);
    assert.deepEqual([...got].sort(), ['192.168.7.1', '192.168.7.2', '192.168.7.3', '192.168.7.4', '192.168.7.5', '192.168.7.6']);
    await assert.rejects(a.allocateNext(owner(7)), (e) => code(e) === 'Full');
    // Only the owner can give a value back (values are picked at random, so ask the store who holds it).
    const holder = (await a.claims.get('192.168.7.3'))!.owner.uid;
    assert.equal(await a.release('192.168.7.3', holder === 'uid-5' ? 'uid-4' : 'uid-5'), false);
    assert.equal(await a.release('192.168.7.3', holder), true);
    assert.equal((await a.allocateNext(owner(7))).value, '192.168.7.3');
    await assert.rejects(a.allocateNext(owner(8)), (e) => code(e) === 'Full');
  });

  test('claims survive in the store: a second allocator on the same store sees them', async () => {
    const store = new MemoryStore();
    const a = new ClusterIPAllocator(store, '10.96.0.0/16');
    await a.allocate('10.96.0.1', owner('kubernetes'));
    const b = new ClusterIPAllocator(store, '10.96.0.0/16');
    await assert.rejects(b.allocate('10.96.0.1', owner(1)), (e) => code(e) === 'Allocated');
    const c = (await b.claims.get('10.96.0.1'))!;
    assert.deepEqual(c.owner, owner('kubernetes'));
  });

  test('check (dry run) reports what allocate would, and claims nothing', async () => {
    const a = new ClusterIPAllocator(new MemoryStore(), '10.96.0.0/16');
    await a.allocate('10.96.0.20', owner(1));
    assert.equal(await a.check('10.96.0.21', 'uid-2'), '10.96.0.21');
    assert.equal(await a.claims.get('10.96.0.21'), undefined);
    await assert.rejects(a.check('10.96.0.20', 'uid-2'), (e) => code(e) === 'Allocated');
    assert.equal(await a.check('10.96.0.20', 'uid-1'), '10.96.0.20');
    await assert.rejects(a.check('1.2.3.4', 'uid-2'), (e) => code(e) === 'NotInRange');
  });

  test('undo deletes a claim it made, but not one it took over or one taken over since', async () => {
    const a = new ClusterIPAllocator(new MemoryStore(), '10.96.0.0/16');
    const made = await a.allocate('10.96.0.30', owner(1));
    await a.undo(made);
    assert.equal(await a.claims.get('10.96.0.30'), undefined);
    const first = await a.allocate('10.96.0.31', owner(1));
    const adopted = await a.allocate('10.96.0.31', owner(1));
    await a.undo(first);
    assert.ok(await a.claims.get('10.96.0.31'), "the take-over protects the claim from the first writer's undo");
    await a.undo(adopted);
    assert.ok(await a.claims.get('10.96.0.31'), 'an adopted claim is never undone');
  });

  test('concurrent allocations never hand out one value twice', async () => {
    const a = new ClusterIPAllocator(new MemoryStore(), '10.0.0.0/27');
    const results = await Promise.allSettled(Array.from({ length: 45 }, (_, i) => a.allocateNext(owner(i))));
    const ok = results.filter((r) => r.status === 'fulfilled').map((r) => (r as PromiseFulfilledResult<{ value: string }>).value.value);
    assert.equal(ok.length, 30);
    assert.equal(new Set(ok).size, 30);
    assert.ok(results.filter((r) => r.status === 'rejected').every((r) => code((r as PromiseRejectedResult).reason) === 'Full'));
  });

  test('concurrent requests for one IP: exactly one owner gets it', async () => {
    const store = new MemoryStore();
    const results = await Promise.allSettled(
      Array.from({ length: 10 }, (_, i) => new ClusterIPAllocator(store, '10.96.0.0/16').allocate('10.96.0.5', owner(i))),
    );
    assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1);
    assert.ok(results.filter((r) => r.status === 'rejected').every((r) => code((r as PromiseRejectedResult).reason) === 'Allocated'));
  });
});

describe('NodePortAllocator', () => {
  test('ranges parse, and bad ones say what is wrong', () => {
    assert.deepEqual(parsePortRange('30000-32767'), { base: 30000, size: 2768 });
    assert.deepEqual(parsePortRange('31000'), { base: 31000, size: 1 });
    assert.throws(() => parsePortRange('32767-30000'), /FIRST <= LAST/);
    assert.throws(() => parsePortRange('1-70000'), /1-65535/);
    assert.throws(() => parsePortRange('abc'), /expected FIRST-LAST/);
    const a = new NodePortAllocator(new MemoryStore(), '30000-32767');
    assert.equal(a.range, '30000-32767');
    assert.equal(a.band, 86);
    assert.equal(staticBand(2768, 16, 32, 128), 86);
    assert.equal(staticBand(10, 16, 32, 128), 0);
    assert.equal(staticBand(100_000, 16, 32, 128), 128);
  });

  test("requested ports: in range and free, else Kubernetes' errors", async () => {
    const a = new NodePortAllocator(new MemoryStore(), '30000-32767');
    assert.equal((await a.allocate('30080', owner(1))).value, '30080');
    await assert.rejects(a.allocate('30080', owner(2)), (e) => code(e) === 'Allocated' && (e as Error).message === 'provided port is already allocated');
    await assert.rejects(
      a.allocate('8080', owner(2)),
      (e) => code(e) === 'NotInRange' && (e as Error).message === 'provided port is not in the valid range. The range of valid ports is 30000-32767',
    );
    await assert.rejects(a.allocate('32768', owner(2)), (e) => code(e) === 'NotInRange');
  });

  test('dynamic ports come from above the static band; exhaustion; release and reuse', async () => {
    const a = new NodePortAllocator(new MemoryStore(), '30000-30039');
    assert.equal(a.band, 16);
    const got: number[] = [];
    for (let i = 0; i < 24; i++) got.push(Number((await a.allocateNext(owner(i))).value));
    assert.ok(
      got.every((p) => p >= 30016),
      `first picks stay above the band: ${got}`,
    );
    for (let i = 24; i < 40; i++) got.push(Number((await a.allocateNext(owner(i))).value));
    assert.equal(new Set(got).size, 40);
    await assert.rejects(a.allocateNext(owner(40)), (e) => code(e) === 'Full');
    assert.equal(await a.release('30005', (await a.claims.get('30005'))!.owner.uid), true);
    assert.equal((await a.allocateNext(owner(41))).value, '30005');
  });
});
