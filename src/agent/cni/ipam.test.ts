// k8ts-ipam: one allocator suite run on the memory store and the file store, then what only files do
// (layout, the cross-process lock, concurrent processes, a kill -9 in the middle of allocating).
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseNetConf, type IpamConf } from './config.js';
import { FileStore, Ipam, MemoryStore, type Attachment, type IpamStore } from './ipam.js';
import { CniError } from './types.js';

const tmp = mkdtempSync(join(tmpdir(), 'k8tscni-ipam-'));
after(() => rmSync(tmp, { recursive: true, force: true }));
let dirs = 0;

function range(subnet: string, extra: Record<string, string> = {}): IpamConf {
  return parseNetConf({ cniVersion: '1.1.0', name: 'net', type: 'k8ts-bridge', ipam: { type: 'k8ts-ipam', subnet, dataDir: '/unused', ...extra } }).ipam;
}

const pod = (i: number, ifName = 'eth0'): Attachment => ({ containerId: `pod${i}`, ifName });

async function rejects(p: Promise<unknown>, code: number, pattern?: RegExp): Promise<CniError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof CniError, String(e));
    assert.equal(e.code, code, e.message);
    if (pattern) assert.match(e.message, pattern);
    return e;
  }
  assert.fail('expected an error');
}

interface Backend {
  name: string;
  make(): { store: IpamStore; makeUnwritable(): void; orphan(ip: string, owner: Attachment): void; torn(ip: string): void };
}

const backends: Backend[] = [
  {
    name: 'memory store',
    make() {
      const store = new MemoryStore();
      return {
        store,
        makeUnwritable: () => {
          store.writable = false;
        },
        orphan: (ip, owner) => {
          store.reservations.set(ip, owner);
        },
        torn: (ip) => {
          store.reservations.set(ip, { containerId: '', ifName: '' });
        },
      };
    },
  },
  {
    name: 'file store',
    make() {
      const dataDir = join(tmp, `d${dirs++}`);
      const store = new FileStore(dataDir, 'net');
      return {
        store,
        makeUnwritable: () => {
          // Root ignores permission bits, so make the data dir's parent a regular file instead.
          rmSync(dataDir, { recursive: true, force: true });
          writeFileSync(dataDir, 'not a directory');
        },
        orphan: (ip, owner) => {
          mkdirSync(join(dataDir, 'net'), { recursive: true });
          writeFileSync(join(dataDir, 'net', ip), `${owner.containerId}\n${owner.ifName}`);
        },
        torn: (ip) => {
          mkdirSync(join(dataDir, 'net'), { recursive: true });
          writeFileSync(join(dataDir, 'net', ip), '');
        },
      };
    },
  },
];

for (const b of backends) {
  describe(`IPAM allocator on the ${b.name}`, () => {
    it('hands out addresses from the start of the range, skipping the gateway', async () => {
      const ipam = new Ipam(range('10.244.1.0/24'), b.make().store);
      assert.deepEqual(await ipam.allocate(pod(1)), { ip: '10.244.1.2', reused: false });
      assert.deepEqual(await ipam.allocate(pod(2)), { ip: '10.244.1.3', reused: false });
    });

    it('gives an attachment that already has an address the same one', async () => {
      const ipam = new Ipam(range('10.244.1.0/24'), b.make().store);
      const a = await ipam.allocate(pod(1));
      await ipam.allocate(pod(2));
      assert.deepEqual(await ipam.allocate(pod(1)), { ip: a.ip, reused: true });
      const other = await ipam.allocate(pod(1, 'net1'));
      assert.notEqual(other.ip, a.ip, 'another interface of the same container is another attachment');
    });

    it('does not hand a freed address out again at once (cursor), and wraps around', async () => {
      const ipam = new Ipam(range('10.244.1.0/29'), b.make().store); // .1 gateway, .2-.6 for pods
      for (let i = 2; i <= 4; i++) assert.equal((await ipam.allocate(pod(i))).ip, `10.244.1.${i}`);
      assert.equal(await ipam.release(pod(3)), '10.244.1.3');
      assert.equal((await ipam.allocate(pod(5))).ip, '10.244.1.5');
      assert.equal((await ipam.allocate(pod(6))).ip, '10.244.1.6');
      assert.equal((await ipam.allocate(pod(7))).ip, '10.244.1.3', 'after the end of the range it starts over');
    });

    it('honours rangeStart and rangeEnd, and skips a gateway inside the range', async () => {
      const ipam = new Ipam(range('10.244.1.0/24', { rangeStart: '10.244.1.100', rangeEnd: '10.244.1.102', gateway: '10.244.1.101' }), b.make().store);
      assert.equal((await ipam.allocate(pod(1))).ip, '10.244.1.100');
      assert.equal((await ipam.allocate(pod(2))).ip, '10.244.1.102');
      await rejects(ipam.allocate(pod(3)), 103, /10\.244\.1\.100-10\.244\.1\.102/);
    });

    it('fails with code 103 naming the range when it is exhausted, and frees up after a release', async () => {
      const ipam = new Ipam(range('10.244.1.0/29'), b.make().store);
      for (let i = 0; i < 5; i++) await ipam.allocate(pod(i));
      const e = await rejects(ipam.allocate(pod(9)), 103, /no free IP address in range 10\.244\.1\.1-10\.244\.1\.6/);
      assert.match(e.details, /all 5 addresses/);
      await ipam.release(pod(2));
      assert.equal((await ipam.allocate(pod(9))).ip, '10.244.1.4');
    });

    it("releases by attachment, idempotently, and by a hint only if the hint is the attachment's", async () => {
      const ipam = new Ipam(range('10.244.1.0/24'), b.make().store);
      const a = await ipam.allocate(pod(1));
      const c = await ipam.allocate(pod(2));
      assert.equal(await ipam.release(pod(9), c.ip), undefined, "a hint naming another attachment's address is ignored");
      assert.equal(ipam.lookup(pod(2)), c.ip);
      assert.equal(await ipam.release(pod(1)), a.ip);
      assert.equal(await ipam.release(pod(1)), undefined);
      assert.equal(ipam.lookup(pod(1)), undefined);
    });

    it('GC releases what is not in the valid list and leftovers of crashes', async () => {
      const env = b.make();
      const ipam = new Ipam(range('10.244.1.0/24'), env.store);
      const keep = await ipam.allocate(pod(1));
      const gone = await ipam.allocate(pod(2));
      env.orphan('10.244.1.50', pod(1)); // a second reservation for a valid attachment: a crashed ADD's
      env.torn('10.244.1.51'); // a crash between create and write
      const released = await ipam.gc([pod(1), pod(3)]);
      assert.deepEqual(released.sort(), [gone.ip, '10.244.1.50', '10.244.1.51'].sort());
      assert.equal(ipam.lookup(pod(1)), keep.ip);
      assert.equal(ipam.lookup(pod(2)), undefined);
      assert.deepEqual(await ipam.usage(), { used: 1, capacity: 253 });
    });

    it('STATUS fails with code 50 when the range is exhausted or the store not writable', async () => {
      const env = b.make();
      const ipam = new Ipam(range('10.244.1.0/30'), env.store); // one pod address: .2
      await ipam.status();
      await ipam.allocate(pod(1));
      await rejects(ipam.status(), 50, /no free IP address in range 10\.244\.1\.1-10\.244\.1\.2/);
      const env2 = b.make();
      env2.makeUnwritable();
      await rejects(new Ipam(range('10.244.1.0/24'), env2.store).status(), 50, /not writable/);
    });
  });
}

describe('IPAM file store', () => {
  const ipamJs = fileURLToPath(new URL('./ipam.js', import.meta.url));
  const configJs = fileURLToPath(new URL('./config.js', import.meta.url));
  /** A node process running `body` with `ipam` bound to an Ipam over dataDir (network "net"). */
  function child(dataDir: string, subnet: string, body: string) {
    const script = `
      import { FileStore, Ipam } from ${JSON.stringify(ipamJs)};
      import { parseNetConf } from ${JSON.stringify(configJs)};
      const conf = parseNetConf({ cniVersion: '1.1.0', name: 'net', type: 'k8ts-bridge', ipam: { type: 'k8ts-ipam', subnet: ${JSON.stringify(subnet)}, dataDir: ${JSON.stringify(dataDir)} } });
      const ipam = new Ipam(conf.ipam, new FileStore(${JSON.stringify(dataDir)}, 'net'));
      ${body}`;
    return spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
  }

  it('keeps one file per address holding "containerID\\nifname", an index link and the cursor', async () => {
    const dataDir = join(tmp, `d${dirs++}`);
    const ipam = new Ipam(range('10.244.1.0/24'), new FileStore(dataDir, 'net'));
    await ipam.allocate({ containerId: 'abc', ifName: 'eth0' });
    const dir = join(dataDir, 'net');
    assert.equal(readFileSync(join(dir, '10.244.1.2'), 'utf8'), 'abc\neth0');
    assert.equal(readFileSync(join(dir, 'last_reserved_ip'), 'utf8'), '10.244.1.2');
    assert.equal(readlinkSync(join(dir, 'attachments', 'abc:eth0')), '10.244.1.2');
    assert.ok(!existsSync(join(dir, 'lock')), 'the lock is dropped after each operation');
    await ipam.release({ containerId: 'abc', ifName: 'eth0' });
    assert.deepEqual(readdirSync(dir).sort(), ['attachments', 'last_reserved_ip']);
    assert.deepEqual(readdirSync(join(dir, 'attachments')), []);
  });

  it('breaks a lock left by a process that is gone', async () => {
    const dataDir = join(tmp, `d${dirs++}`);
    const dead = spawnSync('true');
    assert.ok(dead.pid);
    mkdirSync(join(dataDir, 'net'), { recursive: true });
    writeFileSync(join(dataDir, 'net', 'lock'), `${dead.pid} 1\n`);
    const ipam = new Ipam(range('10.244.1.0/24'), new FileStore(dataDir, 'net', 2000));
    assert.equal((await ipam.allocate(pod(1))).ip, '10.244.1.2');
  });

  it('waits for a live holder and gives up with code 11 (try again later)', async () => {
    const dataDir = join(tmp, `d${dirs++}`);
    const holder = spawn('sleep', ['30'], { stdio: 'ignore' });
    try {
      mkdirSync(join(dataDir, 'net'), { recursive: true });
      writeFileSync(join(dataDir, 'net', 'lock'), `${holder.pid}\n`);
      const ipam = new Ipam(range('10.244.1.0/24'), new FileStore(dataDir, 'net', 300));
      const t0 = Date.now();
      await rejects(ipam.allocate(pod(1)), 11, /lock .* is busy/);
      assert.ok(Date.now() - t0 >= 300);
    } finally {
      holder.kill('SIGKILL');
    }
  });

  it('never gives one address to two processes allocating at the same time', async () => {
    const dataDir = join(tmp, `d${dirs++}`);
    const procs = [0, 1, 2, 3].map((p) =>
      child(
        dataDir,
        '10.244.0.0/16',
        `
      const out = [];
      for (let i = 0; i < 25; i++) out.push((await ipam.allocate({ containerId: 'p${p}-' + i, ifName: 'eth0' })).ip);
      console.log(JSON.stringify(out));`,
      ),
    );
    const results = await Promise.all(
      procs.map(
        (c) =>
          new Promise<string[]>((res, rej) => {
            let out = '';
            let err = '';
            c.stdout!.on('data', (d: Buffer) => {
              out += d;
            });
            c.stderr!.on('data', (d: Buffer) => {
              err += d;
            });
            c.on('exit', (code) => (code === 0 ? res(JSON.parse(out) as string[]) : rej(new Error(`child exited ${code}: ${err}`))));
          }),
      ),
    );
    const all = results.flat();
    assert.equal(all.length, 100);
    assert.equal(new Set(all).size, 100, 'duplicate address handed out');
    const ipam = new Ipam(range('10.244.0.0/16'), new FileStore(dataDir, 'net'));
    assert.equal((await ipam.usage()).used, 100);
  });

  it('after kill -9 in the middle of allocating, GC finds every reservation and the lock is taken over', async () => {
    const dataDir = join(tmp, `d${dirs++}`);
    const c = child(
      dataDir,
      '10.244.0.0/16',
      `
      process.stdout.write('ready\\n');
      for (let i = 0; ; i++) {
        await ipam.allocate({ containerId: 'c' + i, ifName: 'eth0' });
        if (i % 3 === 0) await ipam.release({ containerId: 'c' + (i - 1), ifName: 'eth0' });
      }`,
    );
    await new Promise<void>((res) => c.stdout!.once('data', () => res()));
    await new Promise((r) => setTimeout(r, 400));
    c.kill('SIGKILL');
    await new Promise((r) => c.once('exit', r));
    const ipam = new Ipam(range('10.244.0.0/16'), new FileStore(dataDir, 'net', 5000));
    const held = (await ipam.usage()).used;
    assert.ok(held > 0, 'the child allocated something before it was killed');
    const released = await ipam.gc([]);
    assert.equal(released.length, held);
    const dir = join(dataDir, 'net');
    assert.deepEqual(
      readdirSync(dir).filter((f) => /^\d+\.\d+\.\d+\.\d+$/.test(f)),
      [],
      'no reservation is left',
    );
    assert.deepEqual(readdirSync(join(dir, 'attachments')), [], 'no index entry is left');
    assert.ok(!existsSync(join(dir, 'lock')));
  });
});
