// The kubelet's image manager (ImageService) against a real store, a real registry (Debian's docker-registry
// on loopback) and a real API registry on a memory store, whose Events the tests read back: the pull-policy
// matrix, the back-off (ErrImagePull, then ImagePullBackOff with a doubling delay up to the cap; forgetPod),
// the events' wording as the kubelet words them, and image GC checked on the store's disk. Only the clock
// (Date.now) is moved by the tests, so a 300 s back-off takes no time.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, rmSync, utimesSync } from 'node:fs';
import { tmpdir } from 'node:os';
import net from 'node:net';
import { join } from 'node:path';
import { after, before, beforeEach, afterEach, describe, it, mock } from 'node:test';
import { EVENTS, NAMESPACES as NS, SECRETS } from '../api/kinds.js';
import type { Pod } from '../api/types.js';
import { LocalClient } from '../apiserver/localclient.js';
import { Registry } from '../apiserver/registry.js';
import { WatchCache } from '../apiserver/watchcache.js';
import { EventRecorder } from '../client/events.js';
import { MemoryStore } from '../store/memory.js';
import { BUILTIN_NAME, ensureBuiltin } from '../agent/images/builtin.js';
import { Puller } from '../agent/images/pull.js';
import { Registries } from '../agent/images/registries.js';
import { ImageService, type ImageGcOptions } from '../agent/images/service.js';
import { ImageStore } from '../agent/images/store.js';
import { type BuiltImage, buildImage, buildLayer, dirSize, pushImage, startRegistry, type TestRegistry } from '../agent/images/testing.js';

const CI = process.env.K8TS_CI === '1';
const missing = ['docker-registry'].filter((c) => {
  try {
    execFileSync('which', [c], { stdio: 'ignore' });
    return false;
  } catch {
    return true;
  }
});
const skip = !CI && (missing.length || !existsSync('/bin/busybox')) ? `needs ${missing.join(', ') || '/bin/busybox'} (make setup)` : false;

const root = mkdtempSync(join(tmpdir(), 'k8ts-imgsvc-'));
let reg: TestRegistry;
let api: { reg: Registry; cache: WatchCache; client: LocalClient };
/** Images in the registry: small, distinct, made of random bytes so each layer is its own. */
const img: Record<string, BuiltImage> = {};

async function randomImage(kib: number): Promise<BuiltImage> {
  const l = await buildLayer(
    [
      { name: 'data/', type: 'directory' },
      { name: 'data/blob', data: randomBytes(kib << 10) },
    ],
    'none',
  );
  return buildImage([l], { Cmd: ['/data/blob'] });
}

let podSeq = 0;
function pod(): Pod {
  podSeq++;
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: `p${podSeq}`, namespace: 'default', uid: `uid-${podSeq}-${randomBytes(4).toString('hex')}` },
    spec: { containers: [] },
  };
}

/** The Events recorded about a pod as `Type Reason: message` (count > 1 appended), in no particular order. */
async function eventsOf(p: Pod): Promise<string[]> {
  const { items } = await api.client.list(EVENTS, 'default');
  return items
    .filter((e) => e.involvedObject.uid === p.metadata.uid)
    .map((e) => `${e.type} ${e.reason}: ${e.message}${Number(e.count) > 1 ? ` (x${e.count})` : ''}`);
}

interface Env {
  store: ImageStore;
  puller: Puller;
  svc: ImageService;
}

function env(name: string, gc?: ImageGcOptions, diskUsage?: () => Promise<number>): Env {
  const store = new ImageStore(join(root, 'stores', name));
  const puller = new Puller(store, Registries.parse(`mirrors:\n  "${reg.addr}":\n    endpoint: ["http://${reg.addr}"]\n`));
  const svc = new ImageService({ store, puller, client: api.client, events: new EventRecorder(api.client, 'kubelet', 'node-a'), gc, diskUsage });
  return { store, puller, svc };
}

describe('ImageService', { skip }, () => {
  before(async () => {
    const store = new MemoryStore();
    const cache = await WatchCache.start(store);
    const r = new Registry(store, cache);
    await r.create(NS, undefined, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'default' } });
    api = { reg: r, cache, client: new LocalClient(r) };
    reg = await startRegistry({ dir: join(root, 'reg') });
    for (const [n, kib] of [
      ['a', 64],
      ['b', 256],
      ['c', 512],
      ['d', 1024],
      ['e', 128],
    ] as const) {
      img[n] = await randomImage(kib);
      await pushImage({ url: reg.url }, `svc/${n}`, '1', img[n]);
    }
    await pushImage({ url: reg.url }, 'svc/a', 'latest', img.a);
  });
  after(async () => {
    await reg?.stop();
    api?.cache.close();
    rmSync(root, { recursive: true, force: true });
  });

  describe('pull policy', () => {
    it('IfNotPresent: pulls once, then "already present on machine" without asking the registry', async () => {
      const { svc, puller } = env('ifnotpresent');
      const p = pod();
      const ref = `${reg.addr}/svc/a:1`;
      const r1 = await svc.ensure(p, { name: 'c', image: ref, imagePullPolicy: 'IfNotPresent' });
      assert.ok(r1.ok);
      assert.equal(r1.image.record.config, img.a.configDigest);
      // The registry is gone: a second ensure that asked it would fail.
      const r2 = await withRegistryDown(() => svc.ensure(p, { name: 'c', image: ref, imagePullPolicy: 'IfNotPresent' }));
      assert.ok(r2.ok);
      const ev = await eventsOf(p);
      assert.equal(ev.filter((e) => e.startsWith('Normal Pulling:')).length, 1, ev.join('\n'));
      assert.ok(ev.includes(`Normal Pulled: Container image "${ref}" already present on machine`), ev.join('\n'));
      puller.close();
    });

    it('Always: asks the registry every time, even with the image present', async () => {
      const { svc, puller } = env('always');
      const p = pod();
      const ref = `${reg.addr}/svc/a:1`;
      assert.ok((await svc.ensure(p, { name: 'c', image: ref, imagePullPolicy: 'Always' })).ok);
      assert.ok((await svc.ensure(p, { name: 'c', image: ref, imagePullPolicy: 'Always' })).ok);
      const ev = await eventsOf(p);
      assert.equal(ev.filter((e) => e === `Normal Pulling: Pulling image "${ref}" (x2)`).length, 1, ev.join('\n'));
      const down = await withRegistryDown(() => svc.ensure(pod(), { name: 'c', image: ref, imagePullPolicy: 'Always' }));
      assert.ok(!down.ok && down.reason === 'ErrImagePull', 'Always with the registry down fails though the image is here');
      puller.close();
    });

    it('Never: present runs, absent is ErrImageNeverPull and nothing is fetched', async () => {
      const { svc, store, puller } = env('never');
      const p = pod();
      const ref = `${reg.addr}/svc/b:1`;
      const r1 = await svc.ensure(p, { name: 'c', image: ref, imagePullPolicy: 'Never' });
      assert.ok(!r1.ok);
      assert.equal(r1.reason, 'ErrImageNeverPull');
      assert.equal(r1.message, `Container image "${ref}" is not present with pull policy of Never`);
      assert.ok(!existsSync(store.blobs) || readdirSync(store.blobs).length === 0, 'nothing fetched');
      assert.ok((await svc.ensure(p, { name: 'c', image: ref, imagePullPolicy: 'IfNotPresent' })).ok);
      const r2 = await withRegistryDown(() => svc.ensure(p, { name: 'c', image: ref, imagePullPolicy: 'Never' }));
      assert.ok(r2.ok);
      const ev = await eventsOf(p);
      assert.ok(ev.includes(`Warning ErrImageNeverPull: Container image "${ref}" is not present with pull policy of Never`), ev.join('\n'));
      assert.ok(ev.includes('Warning Failed: Error: ErrImageNeverPull'), ev.join('\n'));
      puller.close();
    });

    it('no policy: :latest and no tag mean Always, another tag IfNotPresent', async () => {
      const { svc, puller } = env('default');
      const p = pod();
      for (const ref of [`${reg.addr}/svc/a:latest`, `${reg.addr}/svc/a`, `${reg.addr}/svc/c:1`]) {
        assert.ok((await svc.ensure(p, { name: 'c', image: ref })).ok, ref);
      }
      // With the registry down, the :latest and untagged ones fail (they were pulled again), the tagged one runs.
      await withRegistryDown(async () => {
        const latest = await svc.ensure(pod(), { name: 'c', image: `${reg.addr}/svc/a:latest` });
        const untagged = await svc.ensure(pod(), { name: 'c', image: `${reg.addr}/svc/a` });
        const tagged = await svc.ensure(pod(), { name: 'c', image: `${reg.addr}/svc/c:1` });
        assert.ok(!latest.ok && latest.reason === 'ErrImagePull');
        assert.ok(!untagged.ok && untagged.reason === 'ErrImagePull');
        assert.ok(tagged.ok);
      });
      puller.close();
    });

    it('the built-in busybox is never pulled, whatever the tag or policy', async () => {
      const { svc, store, puller } = env('builtin');
      await ensureBuiltin(store);
      const p = pod();
      for (const [image, imagePullPolicy] of [
        ['busybox', undefined],
        ['busybox:latest', 'Always'],
        ['docker.io/library/busybox:1.36', 'Always'],
        ['busybox', 'Never'],
      ]) {
        const r = await svc.ensure(p, { name: 'c', image, imagePullPolicy });
        assert.ok(r.ok, `${image} ${imagePullPolicy}`);
        assert.equal(r.image.record.name, BUILTIN_NAME);
      }
      const ev = await eventsOf(p);
      assert.ok(
        ev.every((e) => e.startsWith('Normal Pulled:') && e.includes('already present on machine')),
        ev.join('\n'),
      );
      puller.close();
    });

    it("an invalid name is InvalidImageName with the kubelet's InspectFailed event", async () => {
      const { svc, puller } = env('invalid');
      const p = pod();
      const r = await svc.ensure(p, { name: 'c', image: 'Bad Name!' });
      assert.ok(!r.ok && r.reason === 'InvalidImageName');
      const ev = await eventsOf(p);
      assert.ok(
        ev.some((e) => /^Warning InspectFailed: Failed to apply default image tag "Bad Name!": couldn't parse image name "Bad Name!": /.test(e)),
        ev.join('\n'),
      );
      assert.ok(ev.includes('Warning Failed: Error: InvalidImageName'), ev.join('\n'));
      puller.close();
    });

    it('a missing imagePullSecret is a warning and the pull still goes on', async () => {
      const { svc, puller } = env('secret');
      const p = pod();
      p.spec!.imagePullSecrets = [{ name: 'no-such-secret' }];
      assert.equal(await api.client.get(SECRETS, 'default', 'no-such-secret'), undefined);
      assert.ok((await svc.ensure(p, { name: 'c', image: `${reg.addr}/svc/a:1` })).ok);
      const ev = await eventsOf(p);
      assert.ok(
        ev.includes(
          'Warning FailedToRetrieveImagePullSecret: Unable to retrieve some image pull secrets (no-such-secret); attempting to pull the image may not succeed.',
        ),
        ev.join('\n'),
      );
      puller.close();
    });
  });

  describe("the store's own start (the agent's built-in image, made at the end of its start)", () => {
    it('a lookup, the node image list and GC wait for it; then the built-in busybox is present, no registry asked', async () => {
      const store = new ImageStore(join(root, 'stores', 'ready-gate'));
      const puller = new Puller(store, Registries.empty());
      let begin!: () => void;
      const ready = new Promise<void>((r) => (begin = r)).then(() => ensureBuiltin(store));
      const svc = new ImageService({ store, puller, client: api.client, events: new EventRecorder(api.client, 'kubelet', 'node-a'), ready });
      const p = pod();
      let settled = false;
      const lookup = svc.ensure(p, { name: 'c', image: 'busybox', imagePullPolicy: 'IfNotPresent' }).finally(() => (settled = true));
      const listed = svc.nodeImages();
      await new Promise((r) => setTimeout(r, 50));
      assert.equal(settled, false, 'the lookup waited for the store');
      begin();
      const r = await lookup;
      assert.ok(r.ok, JSON.stringify(r));
      assert.equal(r.image.record.name, BUILTIN_NAME);
      assert.ok(r.image.record.builtin);
      assert.deepEqual(
        (await listed).flatMap((i) => i.names).filter((n) => n.endsWith(':latest')),
        [BUILTIN_NAME],
      );
      puller.close();
    });

    it('a store start that failed delays nothing more: registry images still pull', async () => {
      const store = new ImageStore(join(root, 'stores', 'ready-failed'));
      const puller = new Puller(store, Registries.parse(`mirrors:\n  "${reg.addr}":\n    endpoint: ["http://${reg.addr}"]\n`));
      const ready = Promise.reject(new Error('/bin/busybox not found'));
      const svc = new ImageService({ store, puller, client: api.client, events: new EventRecorder(api.client, 'kubelet', 'node-a'), ready });
      const r = await svc.ensure(pod(), { name: 'c', image: `${reg.addr}/svc/e:1`, imagePullPolicy: 'IfNotPresent' });
      assert.ok(r.ok, JSON.stringify(r));
      assert.equal(r.image.record.config, img.e.configDigest);
      assert.deepEqual(await svc.nodeImages().then((l) => l.length), 1);
      puller.close();
    });
  });

  describe('back-off and events', () => {
    let clock = 0;
    beforeEach(() => {
      clock = Date.now();
      mock.method(Date, 'now', () => clock);
    });
    afterEach(() => mock.restoreAll());

    it('Pulling/Pulled with size and time as the kubelet words them', async () => {
      const { svc, puller } = env('events');
      const p = pod();
      const ref = `${reg.addr}/svc/b:1`;
      const r = await svc.ensure(p, { name: 'c', image: ref });
      assert.ok(r.ok);
      const size = img.b.manifest.length + img.b.config.length + img.b.layers[0].size;
      assert.equal(r.image.record.size, size);
      const ev = await eventsOf(p);
      assert.equal(ev.length, 2, ev.join('\n'));
      assert.ok(ev.includes(`Normal Pulling: Pulling image "${ref}"`), ev.join('\n'));
      assert.match(
        ev.find((e) => e.startsWith('Normal Pulled:')) ?? '',
        new RegExp(
          `^Normal Pulled: Successfully pulled image "${ref.replace(/[.]/g, '\\.')}" in \\d+(\\.\\d+)?m?s \\(\\d+(\\.\\d+)?m?s including waiting\\)\\. Image size: ${size} bytes\\.$`,
        ),
      );
      puller.close();
    });

    it('ErrImagePull, then ImagePullBackOff with a delay doubling from 10 s to the 300 s cap; success clears it; forgetPod forgets it', async () => {
      const { svc, store, puller } = env('backoff');
      const p = pod();
      const ref = `${reg.addr}/svc/nope:1`;
      const c = { name: 'c', image: ref };
      const delays: number[] = [];
      for (let i = 0; i < 7; i++) {
        const r = await svc.ensure(p, c);
        assert.ok(!r.ok);
        assert.equal(r.reason, 'ErrImagePull', `attempt ${i}`);
        assert.match(r.message, /not found|unknown|manifest/i);
        delays.push(r.retryMs!);
        // Inside the back-off: no request, ImagePullBackOff with the time left.
        clock += r.retryMs! - 1;
        const b = await svc.ensure(p, c);
        assert.ok(!b.ok);
        assert.equal(b.reason, 'ImagePullBackOff');
        assert.equal(b.retryMs, 1);
        assert.match(b.message, new RegExp(`^Back-off pulling image "${ref.replace(/[.]/g, '\\.')}": ErrImagePull: `));
        clock += 1;
      }
      assert.deepEqual(delays, [10_000, 20_000, 40_000, 80_000, 160_000, 300_000, 300_000]);
      const ev = await eventsOf(p);
      assert.ok(ev.includes(`Normal Pulling: Pulling image "${ref}" (x7)`), ev.join('\n'));
      assert.ok(
        ev.some((e) => e.startsWith(`Warning Failed: Failed to pull image "${ref}": failed to pull image "${ref}": `) && e.endsWith('(x7)')),
        ev.join('\n'),
      );
      assert.ok(ev.includes('Warning Failed: Error: ErrImagePull (x7)'), ev.join('\n'));
      assert.ok(ev.includes(`Normal BackOff: Back-off pulling image "${ref}" (x7)`), ev.join('\n'));
      assert.ok(ev.includes('Warning Failed: Error: ImagePullBackOff (x7)'), ev.join('\n'));
      assert.deepEqual(readdirSync(store.tmp), [], 'nothing half-written');

      // Another pod of the same image has its own back-off.
      const q = pod();
      const rq = await svc.ensure(q, c);
      assert.ok(!rq.ok && rq.reason === 'ErrImagePull' && rq.retryMs === 10_000);

      // At the cap, a failure more than twice the cap (600 s) after the last one starts afresh at 10 s (the
      // kubelet's expiry); one at exactly 600 s does not.
      clock += 300_000;
      const atCap = await svc.ensure(p, c);
      assert.ok(!atCap.ok && atCap.reason === 'ErrImagePull' && atCap.retryMs === 300_000);
      clock += 600_000;
      const notYet = await svc.ensure(p, c);
      assert.ok(!notYet.ok && notYet.reason === 'ErrImagePull' && notYet.retryMs === 300_000, 'exactly twice the cap: still at the cap');
      clock += 600_001;
      const forgiven = await svc.ensure(p, c);
      assert.ok(!forgiven.ok && forgiven.reason === 'ErrImagePull' && forgiven.retryMs === 10_000, 'past twice the cap: afresh');

      // forgetPod: the next try pulls at once, starting again from 10 s.
      svc.forgetPod(p.metadata.uid!);
      const again = await svc.ensure(p, c);
      assert.ok(!again.ok && again.reason === 'ErrImagePull' && again.retryMs === 10_000);

      // The image appears at the registry: after the back-off, the pull succeeds and the back-off is gone.
      await pushImage({ url: reg.url }, 'svc/nope', '1', img.e);
      clock += 10_000;
      const ok = await svc.ensure(p, c);
      assert.ok(ok.ok);
      assert.equal(ok.image.record.config, img.e.configDigest);
      const next = await svc.ensure(p, { ...c, imagePullPolicy: 'IfNotPresent' });
      assert.ok(next.ok, 'no back-off left');
      puller.close();
    });
  });

  describe('image GC', () => {
    let clock = 0;
    beforeEach(() => {
      clock = Date.now();
      mock.method(Date, 'now', () => clock);
    });
    afterEach(() => mock.restoreAll());

    /** Disk usage as the store's real bytes over a pretend capacity, so removing an image lowers it. */
    const usageOf = (store: ImageStore, capacity: () => number) => async () => (100 * dirSize(store.root)) / capacity();

    /** The store's content as if written long ago (the sweep keeps what is younger than a minute). */
    function age(store: ImageStore): void {
      const t = new Date(Date.now() - 3_600_000);
      for (const d of [store.blobs, store.layers]) for (const n of readdirSync(d)) utimesSync(join(d, n), t, t);
    }

    const ids = (s: ImageStore) => readdirSync(s.layers).sort();

    it('above the high threshold: unused images go oldest use first until below low; in use, built-in and young ones stay; the content leaves the disk', async () => {
      const store = new ImageStore(join(root, 'stores', 'gc'));
      await ensureBuiltin(store);
      let capacity = 1;
      let low = 60;
      const gcOpts = { highPercent: 80, lowPercent: 60, minAgeMs: 120_000 };
      const { svc, puller } = envWith(
        store,
        gcOpts,
        usageOf(store, () => capacity),
      );
      const p = pod();
      // Use order, oldest first: d, c, a, e, b (b 60 s before the GC: younger than minAge).
      for (const n of ['d', 'c', 'a', 'e', 'b']) {
        assert.ok((await svc.ensure(p, { name: n, image: `${reg.addr}/svc/${n}:1` })).ok);
        clock += n === 'b' ? 60_000 : 100_000;
      }
      age(store);
      // The disk is sized so the store fills 90 % of it, and the low threshold so that removing d is not
      // enough but d and c are.
      const total = dirSize(store.root);
      capacity = Math.round(total / 0.9);
      const bytesOf = (n: string) => dirSize(store.layerDir(img[n].layers[0].diffID)) + img[n].layers[0].size;
      low = (100 * (total - bytesOf('d') - bytesOf('c') / 2)) / capacity;
      gcOpts.lowPercent = low;
      const layerOf = (n: string) => img[n].layers[0].diffID.slice(7);
      const blobOf = (n: string) => img[n].layers[0].digest.slice(7);
      for (const n of ['a', 'b', 'c', 'd', 'e']) assert.ok(ids(store).includes(layerOf(n)), `${n} is here`);

      const r = await svc.gc(new Set([img.e.configDigest]));
      assert.ok(r.usageBefore > 80 && r.usageAfter < low, `usage ${r.usageBefore.toFixed(1)} → ${r.usageAfter.toFixed(1)} (low ${low.toFixed(1)})`);
      assert.deepEqual(r.removed, [`${reg.addr}/svc/d:1`, `${reg.addr}/svc/c:1`], 'd then c (oldest use first), and no more once below low');
      for (const n of ['d', 'c']) {
        assert.ok(!ids(store).includes(layerOf(n)), `${n}'s unpacked layer is gone from disk`);
        assert.ok(!existsSync(join(store.blobs, blobOf(n))), `${n}'s blob is gone from disk`);
        assert.ok(!existsSync(join(store.blobs, img[n].configDigest.slice(7))), `${n}'s config is gone`);
        assert.ok(!existsSync(join(store.blobs, img[n].manifestDigest.slice(7))), `${n}'s manifest is gone`);
        assert.equal(await store.getImage(`${reg.addr}/svc/${n}:1`), undefined);
      }
      for (const n of ['a', 'b', 'e']) assert.ok(ids(store).includes(layerOf(n)) && existsSync(join(store.blobs, blobOf(n))), `${n} stays`);
      assert.deepEqual(readdirSync(store.tmp), []);

      // A fresh service (an agent restart) has never seen these images: it counts them as used now, so none
      // is old enough yet however full the disk.
      capacity = Math.round(dirSize(store.root) / 0.95);
      const fresh = envWith(
        store,
        { highPercent: 80, lowPercent: 10, minAgeMs: 120_000 },
        usageOf(store, () => capacity),
      );
      assert.deepEqual((await fresh.svc.gc(new Set())).removed, []);
      fresh.puller.close();

      // Above high again: a is unused and old, b younger than minAge, e in use, busybox built in.
      gcOpts.lowPercent = 10;
      const r2 = await svc.gc(new Set([img.e.configDigest]));
      assert.deepEqual(r2.removed, [`${reg.addr}/svc/a:1`], 'only a');
      assert.ok(r2.usageAfter > 10, 'still above low: what is left may not go');
      assert.ok(!ids(store).includes(layerOf('a')));
      for (const n of ['b', 'e']) assert.ok(ids(store).includes(layerOf(n)), `${n} stays`);
      const bb = await store.getImage(BUILTIN_NAME);
      assert.ok(bb && (await store.stored(bb)), 'the built-in image is whole');
      puller.close();
    });

    it('below the high threshold nothing goes; while a pull is busy nothing goes', async () => {
      const store = new ImageStore(join(root, 'stores', 'gc-busy'));
      let usage = 50;
      // A registry that accepts connections and never answers: a pull from it stays busy until it is closed.
      const conns = new Set<net.Socket>();
      const stall = net.createServer((c) => conns.add(c));
      await new Promise<void>((r) => stall.listen(0, '127.0.0.1', r));
      const stallAddr = `127.0.0.1:${(stall.address() as net.AddressInfo).port}`;
      const { svc, puller } = envWith(
        store,
        { highPercent: 80, lowPercent: 60, minAgeMs: 0 },
        async () => usage,
        `  "stall.invalid":\n    endpoint: ["http://${stallAddr}"]\n`,
      );
      try {
        assert.ok((await svc.ensure(pod(), { name: 'c', image: `${reg.addr}/svc/a:1` })).ok);
        clock += 10_000;
        age(store);
        assert.deepEqual((await svc.gc(new Set())).removed, [], 'below high');
        usage = 90;
        const pulling = svc.ensure(pod(), { name: 'c', image: 'stall.invalid/app:1' });
        for (let i = 0; i < 500 && !puller.busy; i++) await new Promise((r) => setTimeout(r, 5));
        assert.ok(puller.busy, 'the pull has started');
        assert.deepEqual((await svc.gc(new Set())).removed, [], 'not while a pull is busy');
        assert.ok(existsSync(store.layerDir(img.a.layers[0].diffID)));
        stall.close();
        for (const c of conns) c.destroy();
        const failed = await pulling;
        assert.ok(!failed.ok && failed.reason === 'ErrImagePull');
        assert.ok(!puller.busy);
        const r = await svc.gc(new Set());
        assert.deepEqual(r.removed, [`${reg.addr}/svc/a:1`]);
        assert.ok(!existsSync(store.layerDir(img.a.layers[0].diffID)), 'the layer is gone from disk');
      } finally {
        stall.close();
        for (const c of conns) c.destroy();
        puller.close();
      }
    });
  });
});

function envWith(store: ImageStore, gc: ImageGcOptions, diskUsage: () => Promise<number>, moreMirrors = ''): Env {
  const puller = new Puller(store, Registries.parse(`mirrors:\n  "${reg.addr}":\n    endpoint: ["http://${reg.addr}"]\n${moreMirrors}`));
  const svc = new ImageService({ store, puller, client: api.client, events: new EventRecorder(api.client, 'kubelet', 'node-a'), gc, diskUsage });
  return { store, puller, svc };
}

/** Runs fn with the registry stopped (so any request to it fails), then starts it again on the same address. */
async function withRegistryDown<T>(fn: () => Promise<T>): Promise<T> {
  await reg.stop();
  try {
    return await fn();
  } finally {
    const [host, port] = [reg.addr.slice(0, reg.addr.lastIndexOf(':')), Number(reg.addr.slice(reg.addr.lastIndexOf(':') + 1))];
    reg = await startRegistry({ dir: join(root, 'reg'), host, port });
  }
}
