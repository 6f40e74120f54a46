// The node helper: programs run through it keep run()'s contract, and its own operations (network
// namespaces, mounts) do what ip and mount do. Namespaces and mounts are real; each test removes its own.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { CommandError, MissingCommandError, run, spawnRun } from '../util/exec.js';
import { HELPER_SCRIPT } from './helper-script.js';
import { getLink, parseLinks, setLink } from './cni/rtnl.js';
import { createTableBatch, elementBatch, probeTableBatch } from './proxy/nfnl.js';
import {
  HelperError,
  RtnlError,
  MS_BIND,
  MS_NODEV,
  MS_NOSUID,
  NodeHelper,
  installNodeHelper,
  installedNodeHelper,
  mountTmpfs,
  netnsAdd,
  netnsDel,
} from './helper.js';

const root = process.getuid?.() === 0;
const dir = mkdtempSync(join(tmpdir(), 'k8ts-helper-'));
const helper = new NodeHelper(dir);
const tag = `${process.pid}-${Date.now().toString(36)}`;

after(async () => {
  await helper.close();
  rmSync(dir, { recursive: true, force: true });
});

/** The mountinfo line of the mount at path, if any. */
function mountAt(path: string): string | undefined {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .find((l) => l.split(' ')[4] === path);
}

describe('node helper', () => {
  it('compiles cleanly with strict and warnings', async () => {
    const file = join(dir, 'check.pl');
    writeFileSync(file, HELPER_SCRIPT);
    const { stderr } = await spawnRun(['perl', '-Mstrict', '-Mwarnings', '-c', file]);
    assert.equal(stderr.trim(), `${file} syntax OK`);
  });

  it('runs a program with its input, environment and directory, and returns what it printed', async () => {
    const input = Buffer.alloc(3 << 20, 'abcdefgh\n').toString(); // larger than any pipe buffer, both ways
    assert.equal((await helper.run(['cat'], { input })).stdout, input);
    const r = await helper.run(['sh', '-c', 'echo "$A|$(pwd)"; echo oops >&2'], { env: { A: 'b c', PATH: process.env.PATH }, cwd: dir });
    assert.equal(r.stdout, `b c|${dir}\n`);
    assert.equal(r.stderr, 'oops\n');
    // Without env the helper's own environment applies, as a spawn inherits the agent's.
    assert.equal((await helper.run(['sh', '-c', 'echo $HOME'])).stdout, `${process.env.HOME}\n`);
  });

  it('fails as run() fails: exit code, signal, missing command, timeout', async () => {
    await assert.rejects(helper.run(['sh', '-c', 'echo out; echo err >&2; exit 3']), (e: CommandError) => {
      assert.ok(e instanceof CommandError);
      assert.equal(e.exitCode, 3);
      assert.equal(e.stdout, 'out\n');
      assert.equal(e.stderr, 'err\n');
      return true;
    });
    await assert.rejects(helper.run(['sh', '-c', 'kill -TERM $$']), (e: CommandError) => e.signal === 'SIGTERM');
    await assert.rejects(
      helper.run(['no-such-command-k8ts', 'x']),
      (e: MissingCommandError) => e instanceof MissingCommandError && e.command === 'no-such-command-k8ts',
    );
    await assert.rejects(helper.run(['nft-not-here/nft']), MissingCommandError);
    const t0 = Date.now();
    await assert.rejects(helper.run(['sleep', '10'], { timeoutMs: 200 }), (e: CommandError) => e.signal === 'SIGKILL');
    assert.ok(Date.now() - t0 < 5000, 'the timeout ended the program');
  });

  it('runs many programs at once, each answered on its own', async () => {
    const outs = await Promise.all(Array.from({ length: 40 }, (_, i) => helper.run(['sh', '-c', `sleep 0.0${i % 10}; echo ${i}`])));
    assert.deepEqual(
      outs.map((o) => o.stdout),
      Array.from({ length: 40 }, (_, i) => `${i}\n`),
    );
  });

  it('is what run() uses once installed, and no longer after', async () => {
    assert.equal(installedNodeHelper(), undefined);
    const before = helper.requests;
    installNodeHelper(helper);
    try {
      assert.equal((await run(['sh', '-c', 'echo $PPID'])).stdout, `${helper.pid}\n`);
    } finally {
      installNodeHelper(undefined);
    }
    assert.equal(helper.requests, before + 1);
    assert.notEqual((await run(['sh', '-c', 'echo $PPID'])).stdout, `${helper.pid}\n`);
  });

  it('holds a program in a session of its own, passes it one line and its answer, or lets it go', async () => {
    const log = join(dir, 'held.log');
    const script = 'echo ready >&2; if read l; then echo "got $l"; echo more; else echo eof >&2; fi; sleep 0.2';
    const a = await helper.hold(['sh', '-c', script], log);
    const sid = readFileSync(`/proc/${a.pid}/stat`, 'utf8').split(') ')[1].split(' ')[3];
    assert.equal(Number(sid), a.pid, 'the held program leads a session of its own');
    assert.equal(await helper.talk(a, 'go x\n'), 'got go x', 'the answer is its first line');
    await assert.rejects(helper.talk(a, 'again\n'), /no held program/);
    const b = await helper.hold(['sh', '-c', script], log);
    await helper.drop(b);
    for (let i = 0; i < 100 && !readFileSync(log, 'utf8').includes('eof'); i++) await new Promise((r) => setTimeout(r, 20));
    assert.equal(readFileSync(log, 'utf8').replace(/ready\n/g, ''), 'eof\n', 'stderr appended to the log; a dropped program reads EOF');
    await assert.rejects(helper.hold(['no-such-command-k8ts'], log), MissingCommandError);
    await assert.rejects(helper.hold(['true'], join(dir, 'no', 'such', 'dir', 'log')), HelperError);
  });

  it('fails what is in flight when it dies, and the next request starts a new one', async () => {
    const first = helper.pid ?? (await helper.run(['true']), helper.pid);
    const pending = helper.run(['sleep', '10']);
    process.kill(first!, 'SIGKILL');
    await assert.rejects(pending, /the node helper exited \(signal SIGKILL\)/);
    assert.equal((await helper.run(['echo', 'again'])).stdout, 'again\n');
    assert.notEqual(helper.pid, first);
  });

  it('refuses an unknown operation and a hostile namespace name, on both sides', async () => {
    const raw = helper as unknown as { op(what: string, f: string[]): Promise<void> };
    await assert.rejects(raw.op('x', ['frobnicate']), /unknown operation "frobnicate"/);
    await assert.rejects(raw.op('x', ['netns-add', '../../etc/x']), /invalid name/);
    await assert.rejects(raw.op('x', ['netns-del', 'a/b']), /invalid name/);
    for (const bad of ['', '..', '-n', 'a b', 'a/b', 'x'.repeat(201), 'a\n']) await assert.rejects(helper.netnsAdd(bad), HelperError);
  });

  it('makes and removes a network namespace as ip netns does', { skip: !root && 'needs root' }, async () => {
    const name = `k8ts-helper-test-${tag}`;
    try {
      await helper.netnsAdd(name);
      assert.ok(existsSync(`/run/netns/${name}`));
      assert.ok(mountAt(`/run/netns/${name}`)?.includes(' - nsfs '), 'bound as an nsfs mount');
      // A namespace of its own, which ip can enter, holding only its loopback.
      assert.notEqual(readlinkSync('/proc/self/ns/net'), (await spawnRun(['ip', 'netns', 'exec', name, 'readlink', '/proc/self/ns/net'])).stdout.trim());
      const links = JSON.parse((await spawnRun(['ip', '-n', name, '-j', 'link', 'show'])).stdout) as { ifname: string }[];
      assert.deepEqual(
        links.map((l) => l.ifname),
        ['lo'],
      );
      assert.equal(readlinkSync(`/proc/${helper.pid}/ns/net`), readlinkSync('/proc/self/ns/net'), 'the helper is back in the node namespace');
      await assert.rejects(helper.netnsAdd(name), /File exists/);
      assert.ok(existsSync(`/run/netns/${name}`), 'a refused add leaves the existing namespace alone');
      await helper.netnsDel(name);
      assert.ok(!existsSync(`/run/netns/${name}`));
      assert.equal(mountAt(`/run/netns/${name}`), undefined);
      await assert.rejects(helper.netnsDel(name), /No such file/);
    } finally {
      if (existsSync(`/run/netns/${name}`)) await spawnRun(['ip', 'netns', 'del', name]).catch(() => {});
    }
  });

  it('sends rtnetlink messages in a namespace: a GET answered, the refused message named with its errno, the rest not sent', {
    skip: !root && 'needs root',
  }, async () => {
    const name = `k8ts-helper-rtnl-${tag}`;
    const ns = `/run/netns/${name}`;
    try {
      await helper.netnsAdd(name);
      const lo = parseLinks(await helper.rtnl('lo up', [setLink('lo', { up: true }), getLink('lo')], ns));
      assert.deepEqual(
        lo.map((l) => [l.index, l.name, l.up]),
        [[1, 'lo', true]],
      );
      const err = await helper.rtnl('three', [setLink('lo', { up: true }), setLink('nosuch0', { up: true }), setLink('lo', { up: false })], ns).catch((e) => e);
      assert.ok(err instanceof RtnlError, String(err));
      assert.equal(err.index, 1);
      assert.equal(err.errno, 19);
      assert.match(err.message, /^three: No such device \(ENODEV\)$/);
      const links = JSON.parse((await spawnRun(['ip', '-n', name, '-j', 'link', 'show', 'lo'])).stdout) as { flags: string[] }[];
      assert.ok(links[0].flags.includes('UP'), 'the message after the refused one was not sent');
      assert.equal(readlinkSync(`/proc/${helper.pid}/ns/net`), readlinkSync('/proc/self/ns/net'), 'the helper is back in the node namespace');
      for (const bad of ['/proc/1/ns/net', '/run/netns/../x', '/run/netns/a b', 'relative'])
        await assert.rejects(helper.rtnl('x', [getLink('lo')], bad), HelperError);
      const raw = helper as unknown as { op(what: string, f: (string | Buffer)[]): Promise<void> };
      await assert.rejects(raw.op('x', ['rtnl', '', Buffer.from('short')]), /is not one/);
    } finally {
      if (existsSync(ns)) await spawnRun(['ip', 'netns', 'del', name]).catch(() => {});
    }
  });

  it('sends an nf_tables batch as one transaction: applied whole, or refused whole with the message named', {
    skip: !root && 'needs root',
  }, async () => {
    const name = `k8ts-helper-nfnl-${tag}`;
    const ns = `/run/netns/${name}`;
    const nft = (...a: string[]) => spawnRun(['ip', 'netns', 'exec', name, 'nft', ...a]);
    try {
      await helper.netnsAdd(name);
      await helper.nfnl('table', createTableBatch('k8ts-t'), ns);
      const exists = await helper.nfnl('again', createTableBatch('k8ts-t'), ns).catch((e) => e);
      assert.ok(exists instanceof RtnlError, String(exists));
      assert.equal(exists.errno, 17);
      assert.equal(exists.index, 1, 'the NEWTABLE message, after the batch begin');
      // The proxy's probe: the table made twice in one transaction. Present: the first is refused; absent:
      // the second, and the aborted batch leaves no table behind.
      const probe = async (table: string) => helper.nfnl('probe', probeTableBatch(table), ns).catch((e) => e);
      const present = await probe('k8ts-t');
      assert.ok(present instanceof RtnlError && present.errno === 17 && present.index === 1, String(present));
      const absent = await probe('k8ts-absent');
      assert.ok(absent instanceof RtnlError && absent.errno === 17 && absent.index === 2, String(absent));
      assert.doesNotMatch((await nft('list', 'tables')).stdout, /k8ts-absent/);
      await nft('add', 'set', 'ip', 'k8ts-t', 'hairpin', '{ typeof ip saddr . ip daddr; }');
      const pairs = (n: number) => Array.from({ length: n }, (_, i) => `10.1.${i >> 8}.${i & 255} . 10.2.${i >> 8}.${i & 255}`);
      // 4,000 elements: more than one message's worth, all acknowledged.
      const ok = elementBatch('k8ts-t', ['hairpin'], (_c, emit) => pairs(4000).forEach((k) => emit(k, '')));
      assert.ok(ok.messages > 1, `${ok.messages} messages`);
      await helper.nfnl('elements', ok.bytes, ns);
      const listed = (await nft('-j', 'list', 'set', 'ip', 'k8ts-t', 'hairpin')).stdout;
      assert.equal((JSON.parse(listed).nftables[1].set.elem as unknown[]).length, 4000);
      // A batch naming a set that does not exist: nothing of it applies, not even its good messages.
      const mixed = elementBatch('k8ts-t', ['hairpin', 'noeps'], (c, emit) =>
        c === 'hairpin' ? emit('10.9.9.9 . 10.9.9.9', '') : emit('10.96.0.1 . tcp . 80', ''),
      );
      const err = await helper.nfnl('mixed', mixed.bytes, ns).catch((e) => e);
      assert.ok(err instanceof RtnlError, String(err));
      assert.equal(err.errno, 2);
      assert.equal(err.index, 2, 'the noeps message');
      assert.doesNotMatch((await nft('list', 'set', 'ip', 'k8ts-t', 'hairpin')).stdout, /10\.9\.9\.9/);
      assert.equal(readlinkSync(`/proc/${helper.pid}/ns/net`), readlinkSync('/proc/self/ns/net'), 'the helper is back in the node namespace');
      for (const bad of ['/proc/1/ns/net', '/run/netns/../x', 'relative']) await assert.rejects(helper.nfnl('x', ok.bytes, bad), HelperError);
      const raw = helper as unknown as { op(what: string, f: (string | Buffer)[]): Promise<void> };
      await assert.rejects(raw.op('x', ['nfnl', ns, Buffer.from('short')]), /cut short/);
      const lying = Buffer.from(ok.bytes.subarray(0, 40));
      lying.writeUInt32LE(4096, 20); // the second message claims more bytes than the batch has
      await assert.rejects(raw.op('x', ['nfnl', ns, lying]), /message 1 is not one/);
    } finally {
      if (existsSync(ns)) await spawnRun(['ip', 'netns', 'del', name]).catch(() => {});
    }
  });

  it('the installed helper serves netnsAdd, netnsDel and mountTmpfs', { skip: !root && 'needs root' }, async () => {
    const name = `k8ts-helper-test2-${tag}`;
    const mnt = mkdtempSync(join(tmpdir(), 'k8ts-helper-mnt-'));
    installNodeHelper(helper);
    const before = helper.requests;
    try {
      await netnsAdd(name);
      await mountTmpfs(mnt, 1 << 20);
      const line = mountAt(mnt);
      assert.ok(line, 'tmpfs mounted');
      assert.match(line, / - tmpfs tmpfs /);
      assert.match(line.split(' ')[5], /nosuid/);
      assert.match(line.split(' ')[5], /nodev/);
      assert.match(line, /size=1024k/);
      await netnsDel(name);
      assert.equal(helper.requests, before + 3);
    } finally {
      installNodeHelper(undefined);
      if (existsSync(`/run/netns/${name}`)) await spawnRun(['ip', 'netns', 'del', name]).catch(() => {});
      if (mountAt(mnt)) await spawnRun(['umount', mnt]).catch(() => {});
      rmSync(mnt, { recursive: true, force: true });
    }
  });

  it('bind-mounts and unmounts, and names the target when the kernel refuses', { skip: !root && 'needs root' }, async () => {
    const src = mkdtempSync(join(tmpdir(), 'k8ts-helper-src-'));
    const dst = mkdtempSync(join(tmpdir(), 'k8ts-helper-dst-'));
    try {
      writeFileSync(join(src, 'f'), 'bound');
      await helper.mount(src, dst, '', MS_BIND);
      assert.equal(readFileSync(join(dst, 'f'), 'utf8'), 'bound');
      await helper.umount(dst);
      assert.equal(mountAt(dst), undefined);
      await assert.rejects(helper.umount(dst), new RegExp(`umount ${dst}: Invalid argument`));
      await assert.rejects(helper.mount('none', join(dst, 'missing'), 'tmpfs', MS_NOSUID | MS_NODEV), /No such file or directory/);
    } finally {
      if (mountAt(dst)) await spawnRun(['umount', dst]).catch(() => {});
      rmSync(src, { recursive: true, force: true });
      rmSync(dst, { recursive: true, force: true });
    }
  });
});
