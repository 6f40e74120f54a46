// The runtime against real runc containers, each test in its own network namespace and state dir (root only).
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { after, before, describe, it as test } from 'node:test';
import { run } from '../../util/exec.js';
import { ContainerNotFoundError, ContainerNotRunningError, ExecError, InvalidSpecError, StartError } from './errors.js';
import { ensureImages, type ImageRecord } from './images.js';
import { NodeHelper, installNodeHelper } from '../helper.js';
import { Runtime, type ContainerSpec, type ExecOptions, type LogOptions, type RuntimeOptions } from './runtime.js';

function missingTools(): string[] {
  const dirs = (process.env.PATH ?? '').split(':');
  return ['runc', 'perl', 'script', 'ip'].filter((t) => !dirs.some((d) => existsSync(join(d, t))));
}

const skip =
  process.getuid?.() !== 0
    ? 'needs root (runc containers in network namespaces): run the tests as root'
    : missingTools().length
      ? `missing programs: ${missingTools().join(', ')} (apt-get install runc perl-base bsdutils iproute2)`
      : !existsSync('/bin/busybox')
        ? 'missing /bin/busybox (apt-get install busybox-static)'
        : false;

interface Env {
  rt: Runtime;
  dir: string;
  stateDir: string;
  netns: string;
  nsPath: string;
  spec(over: Partial<ContainerSpec>): ContainerSpec;
}

let imagesDir = '';
let image: ImageRecord;

async function withEnv(fn: (env: Env) => Promise<void>, rtOpts: Partial<RuntimeOptions> = {}): Promise<void> {
  const netns = `k8tsrt-${randomBytes(4).toString('hex')}`;
  const dir = await mkdtemp(join(tmpdir(), 'k8tsrt-'));
  const stateDir = join(dir, 'state');
  let made = false;
  try {
    await run(['ip', 'netns', 'add', netns]);
    made = true;
    await run(['ip', '-n', netns, '-batch', '-'], {
      input: 'link set lo up\nlink add k8tsa type veth peer name k8tsb\naddr add 10.123.45.6/24 dev k8tsa\nlink set k8tsa up\nlink set k8tsb up\n',
    });
    const rt = new Runtime({ stateDir, imagesDir, ...rtOpts });
    const nsPath = `/run/netns/${netns}`;
    try {
      await fn({ rt, dir, stateDir, netns, nsPath, spec: (over) => ({ name: 'main', podName: 'pod-a', image: 'busybox', netns: nsPath, ...over }) });
    } finally {
      rt.close();
    }
    await assertClean(stateDir, dir);
  } finally {
    // Whatever a failed assertion left: containers through the runtime, then anything runc still knows.
    const rt = new Runtime({ stateDir, imagesDir });
    for (const c of await rt.list().catch(() => [])) await rt.remove(c.id).catch(() => {});
    const left = await rt.runc.list().catch(() => []);
    for (const c of left) await rt.runc.delete(c.id, true).catch(() => {});
    if (made) await delNetns(netns);
    await rm(dir, { recursive: true, force: true });
  }
}

/** `ip netns del`, again while the name is still there: its unlink fails (EBUSY) for as long as a mount
 *  namespace cloned meanwhile (another test's container, on a busy machine) still holds a copy of the mount. */
async function delNetns(name: string): Promise<void> {
  for (let i = 0; i < 50 && existsSync(`/run/netns/${name}`); i++) {
    await run(['ip', 'netns', 'del', name]).catch(() => {});
    if (existsSync(`/run/netns/${name}`)) await new Promise((r) => setTimeout(r, 100));
  }
}

/** No container, runc state or mount of this test remains. */
async function assertClean(stateDir: string, dir: string): Promise<void> {
  const rt = new Runtime({ stateDir, imagesDir });
  assert.deepEqual(await rt.list(), []);
  assert.deepEqual(await rt.runc.list(), []);
  assert.deepEqual(await readdir(rt.containersDir).catch(() => []), []);
  const mounts = await readFile('/proc/self/mountinfo', 'utf8');
  assert.ok(!mounts.includes(dir), `a mount under ${dir} is left`);
}

async function text(r: Readable | null): Promise<string> {
  let s = '';
  if (r) for await (const c of r) s += (c as Buffer).toString();
  return s;
}

async function execText(rt: Runtime, id: string, argv: string[], opts: ExecOptions = {}, input?: string) {
  const s = await rt.exec(id, argv, opts);
  if (input !== undefined) s.stdin!.end(input);
  const [out, err, code] = await Promise.all([text(s.stdout), text(s.stderr), s.exitCode]);
  return { out, err, code };
}

async function logText(rt: Runtime, id: string, opts: LogOptions = {}): Promise<string> {
  return text(await rt.readLog(id, opts));
}

async function until<T>(what: string, f: () => Promise<T | undefined>, ms = 10_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Run again with the shims and runc forked from this process, as without the agent's node helper. */
const ALSO_FORKED = new Set([
  "each shim notes its container's exit; watchExits hears it once, and hears notes left while nobody watched",
  'runs sleep in the pod network namespace and sees its interfaces',
  'reports exit codes, also to a fresh Runtime on the same dirs (an agent restart)',
  'killing the shim (the waiting side) does not lose the container',
  'a command missing from the image is a StartError, and nothing is left',
]);

// As in the agent, every program and every shim goes through the node helper (src/agent/helper.ts); the
// tests named above run a second time without it.
for (const via of ['the node helper', 'forks of this process'] as const)
  describe(`Runtime (runc), programs started by ${via}`, { skip }, () => {
    const helper = via === 'the node helper' ? new NodeHelper(join(tmpdir(), `k8tsrt-helper-${process.pid}`)) : undefined;
    const it = (name: string, fn: () => void | Promise<void>) => (helper || ALSO_FORKED.has(name) ? test(name, fn) : undefined);
    before(async () => {
      installNodeHelper(helper);
      imagesDir = await mkdtemp(join(tmpdir(), 'k8tsrt-images-'));
      [image] = await ensureImages(imagesDir);
    });
    after(async () => {
      installNodeHelper(undefined);
      await helper?.close();
      if (helper) await rm(join(tmpdir(), `k8tsrt-helper-${process.pid}`), { recursive: true, force: true });
      if (imagesDir) await rm(imagesDir, { recursive: true, force: true });
      const { stdout } = await run(['ip', 'netns', 'list']);
      assert.ok(!/k8tsrt-/.test(stdout), `network namespaces left: ${stdout}`);
    });

    it('runs sleep in the pod network namespace and sees its interfaces', () =>
      withEnv(async ({ rt, nsPath, spec }) => {
        const id = await rt.create(spec({ command: ['sleep', '1000'] }));
        const st = await rt.state(id);
        assert.equal(st.status, 'running');
        assert.ok(st.pid! > 0 && st.startedAt instanceof Date);
        assert.equal((await stat(`/proc/${st.pid}/ns/net`)).ino, (await stat(nsPath)).ino);
        const ip = await execText(rt, id, ['ip', 'addr']);
        assert.equal(ip.code, 0);
        assert.match(ip.out, /k8tsa@k8tsb/);
        assert.match(ip.out, /inet 10\.123\.45\.6\/24/);
        assert.equal((await execText(rt, id, ['hostname'])).out, 'pod-a\n');
        assert.equal((await execText(rt, id, ['cat', '/proc/1/cmdline'])).out, 'sleep\u00001000\u0000');
        assert.deepEqual(
          (await rt.list()).map((c) => [c.id, c.state.status]),
          [[id, 'running']],
        );
        await rt.remove(id);
      }));

    it('has the Docker default capabilities: ping to 127.0.0.1 works; add and drop apply', () =>
      withEnv(async ({ rt, spec }) => {
        const id = await rt.create(spec({ command: ['sleep', '1000'] }));
        const ping = await execText(rt, id, ['ping', '-c', '1', '-W', '3', '127.0.0.1']);
        assert.equal(ping.code, 0, ping.err);
        assert.match(ping.out, /1 packets received/);
        assert.match((await execText(rt, id, ['grep', 'CapEff', '/proc/self/status'])).out, /CapEff:\s+00000000a80425fb/);
        const other = await rt.create(
          spec({ name: 'other', command: ['sleep', '1000'], securityContext: { capabilities: { add: ['NET_ADMIN'], drop: ['NET_RAW'] } } }),
        );
        assert.match((await execText(rt, other, ['grep', 'CapEff', '/proc/self/status'])).out, /CapEff:\s+00000000a80415fb/);
        await rt.remove(id);
        await rt.remove(other);
      }));

    it('follows Kubernetes semantics for command, args, env and working dir', () =>
      withEnv(async ({ rt, spec }) => {
        const a = await rt.create(
          spec({
            command: ['sh', '-c'],
            args: ['echo "$0|$1|$FOO|$HOSTNAME|$PATH|$(pwd)"', 'zero', 'one'],
            env: [{ name: 'FOO', value: 'bar' }],
            workingDir: '/work/here',
            podName: 'pod-env',
          }),
        );
        const b = await rt.create(spec({ args: ['echo', 'from-args'] }));
        const c = await rt.create(spec({}));
        const d = await rt.create(spec({ command: ['sh', '-c', 'echo $PATH'], env: [{ name: 'PATH', value: '/bin' }] }));
        for (const id of [a, b, c, d]) assert.equal((await rt.waitStopped(id, 10_000)).exitCode, 0);
        assert.equal(await logText(rt, a), 'zero|one|bar|pod-env|/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin|/work/here\n');
        assert.equal(await logText(rt, b), 'from-args\n');
        assert.deepEqual(((await rt.config(c)).process as { args: string[] }).args, ['sh']);
        assert.equal(await logText(rt, d), '/bin\n');
        for (const id of [a, b, c, d]) await rt.remove(id);
      }));

    it('reports exit codes, also to a fresh Runtime on the same dirs (an agent restart)', () =>
      withEnv(async ({ rt, stateDir, spec }) => {
        const three = await rt.create(spec({ command: ['sh', '-c', 'exit 3'] }));
        const killed = await rt.create(spec({ name: 'k', command: ['sleep', '1000'] }));
        await rt.kill(killed, 'SIGKILL');
        const st = await rt.waitStopped(three, 10_000);
        assert.equal(st.status, 'stopped');
        assert.equal(st.exitCode, 3);
        assert.equal(st.signal, undefined);
        assert.ok(st.finishedAt! >= st.startedAt!);
        const k = await rt.waitStopped(killed, 10_000);
        assert.equal(k.exitCode, 137);
        assert.equal(k.signal, 9);

        const again = new Runtime({ stateDir, imagesDir });
        const st2 = await again.state(three);
        assert.deepEqual({ ...st2, shimPid: undefined }, { ...st, shimPid: undefined });
        assert.equal((await again.state(killed)).exitCode, 137);
        await again.remove(three);
        await again.remove(killed);
      }));

    it('a container outlives the agent process that started it, and its exit code is still recorded', () =>
      withEnv(async ({ stateDir, spec }) => {
        // A real agent restart: another node process creates the container and exits at once.
        const agent = `
      const { Runtime } = await import(${JSON.stringify(new URL('./runtime.js', import.meta.url).href)});
      const rt = new Runtime({ stateDir: ${JSON.stringify(stateDir)}, imagesDir: ${JSON.stringify(imagesDir)} });
      const id = await rt.create(${JSON.stringify(spec({ command: ['sh', '-c', 'echo started; sleep 5; echo done; exit 7'] }))});
      rt.close();
      process.stdout.write(id);`;
        const t0 = Date.now();
        const { stdout: id } = await run([process.execPath, '--input-type=module', '-e', agent], { timeoutMs: 30_000 });
        assert.ok(Date.now() - t0 < 5000, 'the agent process exits without waiting for its containers');
        const rt = new Runtime({ stateDir, imagesDir });
        const st = await rt.state(id);
        assert.equal(st.status, 'running');
        assert.ok(st.shimPid! > 0);
        const done = await rt.waitStopped(id, 20_000);
        assert.equal(done.exitCode, 7);
        assert.equal(await logText(rt, id), 'started\ndone\n');
        await rt.remove(id);
      }));

    it('stop sends SIGTERM, waits up to the grace period, then SIGKILL', () =>
      withEnv(async ({ rt, spec }) => {
        const polite = await rt.create(spec({ command: ['sh', '-c', 'trap "echo got TERM; exit 0" TERM; echo ready; while true; do sleep 0.1; done'] }));
        const stubborn = await rt.create(spec({ name: 's', command: ['sleep', '1000'] }));
        await until('the trap', async () => ((await logText(rt, polite)).includes('ready') ? true : undefined));
        let t0 = Date.now();
        const p = await rt.stop(polite, 20);
        assert.equal(p.exitCode, 0);
        assert.ok(Date.now() - t0 < 10_000, 'a container that exits on SIGTERM is not held for the whole grace period');
        assert.match(await logText(rt, polite), /got TERM/);
        // sleep as pid 1 ignores SIGTERM (no handler): only the SIGKILL after the grace period ends it.
        t0 = Date.now();
        const s = await rt.stop(stubborn, 1);
        assert.equal(s.exitCode, 137);
        assert.ok(Date.now() - t0 >= 900, 'the grace period was granted');
        assert.equal((await rt.stop(stubborn, 1)).exitCode, 137, 'stopping a stopped container is a no-op');
        await rt.remove(polite);
        await rt.remove(stubborn);
      }));

    it('a container being created is never reported stopped to a concurrent list()', () =>
      withEnv(async ({ rt, spec }) => {
        const statuses = new Set<string>();
        let creating = true;
        const poll = (async () => {
          while (creating) {
            for (const c of await rt.list()) statuses.add(c.state.status);
            await new Promise((r) => setImmediate(r));
          }
        })();
        const ids: string[] = [];
        try {
          for (let i = 0; i < 5; i++) ids.push(await rt.create(spec({ name: `c${i}`, command: ['sleep', '1000'] })));
        } finally {
          creating = false;
          await poll;
        }
        for (const id of ids) assert.equal((await rt.state(id)).status, 'running');
        assert.ok(!statuses.has('stopped'), `a concurrent list() saw a container stopped while it was being created (${[...statuses]})`);
        for (const id of ids) await rt.remove(id);
      }));

    it('list() skips a container removed while it reads, and never fails because of it', () =>
      withEnv(async ({ rt, spec }) => {
        const ids: string[] = [];
        for (let i = 0; i < 6; i++) ids.push(await rt.create(spec({ name: `c${i}`, command: ['sleep', '1000'] })));
        const lists: Promise<unknown>[] = [];
        const removals = ids.map(async (id) => {
          lists.push(rt.list());
          await rt.remove(id);
          lists.push(rt.list());
        });
        await Promise.all(removals);
        await Promise.all(lists);
        assert.deepEqual(await rt.list(), []);
      }));

    it('killing the shim (the waiting side) does not lose the container', () =>
      withEnv(async ({ rt, stateDir, spec }) => {
        const id = await rt.create(spec({ command: ['sleep', '1000'] }));
        const st = await rt.state(id);
        assert.ok(st.shimPid! > 0);
        process.kill(st.shimPid!, 'SIGKILL');
        // Gone, or a zombie until this process (its parent) reaps it.
        await until('the shim to die', async () =>
          (await readFile(`/proc/${st.shimPid}/stat`, 'utf8').catch(() => ') Z')).includes(') Z') ? true : undefined,
        );
        const fresh = new Runtime({ stateDir, imagesDir });
        const after = await fresh.state(id);
        assert.equal(after.status, 'running');
        assert.equal(after.pid, st.pid);
        assert.equal(after.shimPid, undefined);
        assert.equal((await execText(fresh, id, ['echo', 'still here'])).out, 'still here\n');
        assert.deepEqual(
          (await fresh.list()).map((c) => c.state.status),
          ['running'],
        );
        const stopped = await fresh.stop(id, 0);
        assert.equal(stopped.status, 'stopped');
        assert.equal(stopped.exitCode, undefined);
        assert.equal(stopped.reason, 'ExitCodeLost');
        await fresh.remove(id);
      }));

    it('logs hold stdout and stderr, with timestamps, tail, limit and follow', () =>
      withEnv(async ({ rt, spec }) => {
        const id = await rt.create(spec({ command: ['sh', '-c', 'echo out; echo err >&2; printf partial'] }));
        const st = await rt.waitStopped(id, 10_000);
        assert.equal(await logText(rt, id), 'out\nerr\npartial');
        const lines = (await logText(rt, id, { timestamps: true })).split('\n');
        assert.equal(lines.length, 3);
        for (const [i, want] of ['out', 'err', 'partial'].entries()) {
          const m = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)\.(\d{9})Z (.*)$/.exec(lines[i]);
          assert.ok(m, lines[i]);
          assert.equal(m[3], want);
          const t = Date.parse(`${m[1]}.${m[2].slice(0, 3)}Z`);
          assert.ok(t >= st.startedAt!.getTime() - 1000 && t <= st.finishedAt!.getTime() + 1000, `${lines[i]} is within the container's life`);
        }
        assert.equal(await logText(rt, id, { tailLines: 1 }), 'partial');
        assert.equal(await logText(rt, id, { limitBytes: 3 }), 'out');
        assert.equal(await logText(rt, id, { sinceSeconds: 3600 }), 'out\nerr\npartial');

        const f = await rt.create(spec({ name: 'f', command: ['sh', '-c', 'echo a; sleep 0.5; echo b; sleep 0.2'] }));
        const followed = await logText(rt, f, { follow: true });
        assert.equal(followed, 'a\nb\n');
        assert.equal((await rt.state(f)).status, 'stopped', 'follow ends when the container has stopped');
        // Each line carries its own arrival time, from the shim's index, not one time for the whole file.
        const [ta, tb] = (await logText(rt, f, { timestamps: true }))
          .trim()
          .split('\n')
          .map((l) => Date.parse(l.slice(0, 23) + 'Z'));
        assert.ok(tb - ta >= 200 && tb - ta < 5000, `a and b were written 0.5 s apart, stamped ${tb - ta} ms apart`);
        await rt.remove(id);
        await rt.remove(f);
      }));

    it('logs rotate: 40 MiB written flat out through 1 MiB × 3 files keeps 3 files, whole lines in order, and a follower misses none', () =>
      withEnv(
        async ({ rt, spec }) => {
          // 420,000 numbered 100-byte lines, each its own write (busybox awk does not buffer a pipe).
          const N = 420_000;
          const id = await rt.create(spec({ command: ['awk', `BEGIN{p=sprintf("%91s",""); for(i=1;i<=${N};i++) printf "%08d%s\\n", i, p}`] }));
          const dir = rt.paths(id).dir;
          // A follower checks as it reads (nothing is kept): every line whole, each the one after the last.
          const follow = async (cid: string) => {
            let first = 0;
            let last = 0;
            let bad = '';
            let rest = '';
            for await (const c of await rt.readLog(cid, { follow: true })) {
              const lines = (rest + (c as Buffer).toString()).split('\n');
              rest = lines.pop()!;
              for (const l of lines) {
                const n = Number(l.slice(0, 8));
                if (!bad && (l.length !== 99 || (last && n !== last + 1))) bad = `after line ${last}: ${JSON.stringify(l.slice(0, 20))} (${l.length} bytes)`;
                first ||= n;
                last = n;
              }
            }
            if (rest && !bad) bad = `a partial last line ${JSON.stringify(rest.slice(0, 20))}`;
            return { first, last, bad };
          };
          // The directory, sampled while the container writes: never more than 3 log files or ~3 MiB of them.
          let maxFiles = 0;
          let maxBytes = 0;
          let running = true;
          const sampler = (async () => {
            while (running) {
              const names = (await readdir(dir)).filter((n) => n === 'log' || /^log\.\d{8}-\d{6}\.\d{9}$/.test(n));
              // By inode: mid-rotation the newest rotated name is a link of `log` itself for a moment.
              const files = new Map<number, number>();
              for (const n of names) {
                const st = await stat(join(dir, n)).catch(() => undefined);
                if (st) files.set(st.ino, st.size);
              }
              const bytes = [...files.values()].reduce((a, b) => a + b, 0);
              maxFiles = Math.max(maxFiles, files.size);
              maxBytes = Math.max(maxBytes, bytes);
              await new Promise((r) => setTimeout(r, 10));
            }
          })();
          const st = await rt.waitStopped(id, 240_000);
          running = false;
          await sampler;
          assert.equal(st.exitCode, 0);
          assert.ok(maxFiles <= 3, `${maxFiles} log files at once`);
          assert.ok(maxBytes <= 3 * 1024 * 1024 + 200, `${maxBytes} bytes of logs at once`);
          const names = (await readdir(dir)).filter((n) => n.startsWith('log') || n.startsWith('.log'));
          assert.equal(names.filter((n) => /^log\.\d{8}-\d{6}\.\d{9}$/.test(n)).length, 2, names.join(' '));
          assert.deepEqual(
            names.filter((n) => !/^log(\.idx|\.\d{8}-\d{6}\.\d{9})?$/.test(n)),
            [],
            'nothing half-made is left',
          );
          // kubectl logs reads the current file: whole lines, consecutive, ending at the last, within the size.
          const current = await logText(rt, id);
          assert.ok(current.length <= 1024 * 1024 && current.length > 0, `${current.length} bytes in the current file`);
          const nums = current
            .replace(/\n$/, '')
            .split('\n')
            .map((l) => (l.length === 99 ? Number(l.slice(0, 8)) : -1));
          assert.equal(nums[nums.length - 1], N);
          assert.ok(
            nums.every((n, i) => i === 0 || n === nums[i - 1] + 1),
            'the current file holds whole, consecutive lines',
          );
          // Every option still works on a rotated log, its timestamps from the new file's index.
          const ts = (await logText(rt, id, { timestamps: true, tailLines: 2 })).replace(/\n$/, '').split('\n');
          assert.equal(ts.length, 2);
          for (const [i, l] of ts.entries()) {
            const m = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9})Z (\d{8}) +$/.exec(l);
            assert.ok(m, l.slice(0, 60));
            assert.equal(Number(m[2]), N - 1 + i);
            const t = Date.parse(`${m[1].slice(0, 23)}Z`);
            assert.ok(t >= st.startedAt!.getTime() - 1000 && t <= st.finishedAt!.getTime() + 1000, "stamped within the container's life");
          }
          assert.equal(await logText(rt, id, { limitBytes: 8 }), String(nums[0]).padStart(8, '0'));
          assert.equal((await logText(rt, id, { sinceSeconds: 3600 })).length, current.length);
          assert.equal(await logText(rt, id, { sinceTime: new Date(Date.now() + 60_000) }), '');
          await rt.remove(id);

          // kubectl logs -f across rotations: 10 MB in 20 bursts (a follower more than max-files behind a writer
          // would lose the deleted files, as upstream's would; this one keeps up): every line, in order.
          const M = 100_000;
          const paced = await rt.create(
            spec({
              name: 'paced',
              command: ['awk', `BEGIN{p=sprintf("%91s",""); for(i=1;i<=${M};i++){printf "%08d%s\\n", i, p; if(i%5000==0) system("usleep 150000")}}`],
            }),
          );
          const f = await follow(paced);
          assert.equal(f.bad, '', 'the follower saw whole lines, each the next');
          assert.equal(f.last, M);
          assert.ok(f.first < 5_000, `the follower started near the beginning (line ${f.first})`);
          assert.ok((await readdir(rt.paths(paced).dir)).filter((n) => /^log\.\d/.test(n)).length === 2, 'it was rotated');
          await rt.remove(paced);
        },
        { containerLog: { maxBytes: 1024 * 1024, maxFiles: 3 } },
      ));

    it('a runtime refuses log limits that make no sense', () => {
      for (const containerLog of [
        { maxBytes: 0, maxFiles: 5 },
        { maxBytes: 100, maxFiles: 5 },
        { maxBytes: 1.5e6 + 0.5, maxFiles: 5 },
        { maxBytes: 1 << 20, maxFiles: 1 },
        { maxBytes: 1 << 20, maxFiles: Number.NaN },
      ]) {
        assert.throws(() => new Runtime({ stateDir: '/nonexistent', imagesDir: '/nonexistent', containerLog }), InvalidSpecError);
      }
    });

    it('exec: exit codes, stdout and stderr apart, stdin, a terminal with resize', () =>
      withEnv(async ({ rt, spec }) => {
        const id = await rt.create(spec({ command: ['sleep', '1000'] }));
        assert.deepEqual(await execText(rt, id, ['sh', '-c', 'echo o; echo e >&2; exit 4']), { out: 'o\n', err: 'e\n', code: 4 });
        assert.deepEqual(await execText(rt, id, ['cat'], { stdin: true }, 'abc\n'), { out: 'abc\n', err: '', code: 0 });
        assert.deepEqual(await execText(rt, id, ['cat']), { out: '', err: '', code: 0 });
        assert.deepEqual(await execText(rt, id, ['sh', '-c', 'echo $X $TERM'], { env: ['X=1'] }), { out: '1\n', err: '', code: 0 });

        const t = await rt.exec(id, ['sh'], { tty: true, stdin: true, cols: 100, rows: 30 });
        assert.equal(t.stderr, null);
        let screen = '';
        t.stdout.on('data', (b: Buffer) => (screen += b.toString()));
        // Typed after the prompt, as a person would (type-ahead is echoed once more by the fresh terminal).
        await until('the prompt', async () => (screen.includes('/ # ') ? true : undefined));
        t.stdin!.write('stty size; tty; echo $TERM\r');
        await until('the first answer', async () => (screen.includes('xterm\r\n') ? true : undefined));
        // Each next line waits for its prompt: typed while the shell redraws after a resize, it could be lost.
        const promptAfter = (text: string) => async () => (screen.includes('/ # ', screen.lastIndexOf(text)) ? true : undefined);
        await until('the prompt after the first answer', promptAfter('xterm\r\n'));
        await t.resize(120, 40);
        t.stdin!.write('stty size\r');
        await until('the size after the resize', async () => (/40 120\r\n/.test(screen) ? true : undefined));
        await until('the prompt after the resize', promptAfter('40 120\r\n'));
        t.stdin!.write('exit 5\r');
        assert.equal(await t.exitCode, 5);
        await finished(t.stdout);
        assert.match(screen, /30 100\r\n/);
        assert.match(screen, /\/dev\/pts\/\d+\r\n/);
        assert.match(screen, /40 120\r\n/);
        assert.ok(!screen.includes('\r\r\n'), JSON.stringify(screen));

        await assert.rejects(
          rt.exec(id, ['nosuchcmd']),
          (e: unknown) => e instanceof ExecError && e.message === 'exec: "nosuchcmd": executable file not found in $PATH',
        );
        await assert.rejects(rt.exec(id, ['/bin/nope']), (e: unknown) => e instanceof ExecError && /no such file or directory/.test(e.message));
        await rt.stop(id, 0);
        await assert.rejects(rt.exec(id, ['true']), ContainerNotRunningError);
        await rt.remove(id);
      }));

    it('a command missing from the image is a StartError, and nothing is left', () =>
      withEnv(async ({ rt, spec }) => {
        await assert.rejects(rt.create(spec({ command: ['nosuchcmd', '--flag'] })), (e: unknown) => {
          assert.ok(e instanceof StartError, String(e));
          assert.equal(e.code, 'StartError');
          assert.match(e.message, /exec: "nosuchcmd": executable file not found in \$PATH/);
          return true;
        });
        assert.deepEqual(await rt.list(), []);
      }));

    it('remove is idempotent', () =>
      withEnv(async ({ rt, spec }) => {
        const id = await rt.create(spec({ command: ['sleep', '1000'] }));
        await rt.remove(id);
        await rt.remove(id);
        await rt.remove('never-existed');
        await assert.rejects(rt.state(id), ContainerNotFoundError);
        assert.equal(existsSync(join(rt.runc.root, id)), false);
      }));

    it("each shim notes its container's exit; watchExits hears it once, and hears notes left while nobody watched", () =>
      withEnv(async ({ rt, spec }) => {
        const heard: { id: string; labels: Record<string, string>; exitCode?: number }[] = [];
        let wake = () => {};
        const hear = (id: string, labels: Record<string, string>) =>
          void rt.state(id).then(
            (st) => {
              heard.push({ id, labels, exitCode: st.exitCode });
              wake();
            },
            () => {
              heard.push({ id, labels });
              wake();
            },
          );
        const heardOf = (id: string) =>
          until(`watchExits hears ${id}`, async () => {
            const h = heard.find((x) => x.id === id);
            if (!h) await new Promise<void>((r) => ((wake = r), setTimeout(r, 200)));
            return h;
          });
        let stop = rt.watchExits(hear);
        try {
          // Alive for a moment first, so the note comes from the exit and not from the start.
          const a = await rt.create(spec({ name: 'a', command: ['sh', '-c', 'sleep 0.3; exit 3'], labels: { 'k8ts.pod': 'ns/a' } }));
          const got = await heardOf(a);
          // The exit status is on disk before the note: whoever hears the note reads the container stopped.
          assert.deepEqual(got, { id: a, labels: { 'k8ts.pod': 'ns/a' }, exitCode: 3 });
          assert.deepEqual(await readdir(rt.exitsDir), [], 'the note is taken');
          stop();
          // An exit while nobody watches (the agent is down) waits in its note for the next watcher.
          const b = await rt.create(spec({ name: 'b', command: ['sh', '-c', 'exit 0'], labels: { 'k8ts.pod': 'ns/b' } }));
          await until('the note of b', async () => ((await readdir(rt.exitsDir)).includes(b) ? true : undefined));
          // Names that are no container id are left alone; an id with no container is heard with no labels.
          await writeFile(join(rt.exitsDir, '.partial'), '');
          await writeFile(join(rt.exitsDir, 'gone-container'), '');
          stop = rt.watchExits(hear);
          assert.deepEqual(await heardOf(b), { id: b, labels: { 'k8ts.pod': 'ns/b' }, exitCode: 0 });
          assert.deepEqual((await heardOf('gone-container')).labels, {});
          assert.deepEqual(await readdir(rt.exitsDir), ['.partial']);
          // Each note was heard once: the watch's events for the removals call nothing.
          await new Promise((r) => setTimeout(r, 200));
          assert.deepEqual(heard.map((h) => h.id).sort(), [a, b, 'gone-container'].sort());
          await rm(join(rt.exitsDir, '.partial'));
          await rt.remove(a);
          await rt.remove(b);
        } finally {
          stop();
        }
      }));

    it('list after a restart finds the containers with their labels', () =>
      withEnv(async ({ rt, stateDir, spec }) => {
        const a = await rt.create(spec({ name: 'a', command: ['sleep', '1000'], labels: { pod: 'uid-1', restart: '0' } }));
        const b = await rt.create(spec({ name: 'b', image: 'docker.io/library/busybox:1.36', command: ['sleep', '1000'], labels: { pod: 'uid-2' } }));
        const c = await rt.create(spec({ name: 'c', command: ['true'] }));
        await rt.waitStopped(c, 10_000);
        const fresh = new Runtime({ stateDir, imagesDir });
        const byName = new Map((await fresh.list()).map((x) => [x.name, x]));
        assert.deepEqual([...byName.keys()].sort(), ['a', 'b', 'c']);
        assert.equal(byName.get('a')!.id, a);
        assert.equal(byName.get('a')!.state.status, 'running');
        assert.deepEqual(byName.get('a')!.labels, { pod: 'uid-1', restart: '0' });
        assert.equal(byName.get('b')!.id, b);
        assert.equal(byName.get('b')!.imageRef, 'docker.io/library/busybox:1.36');
        assert.equal(byName.get('b')!.imageId, image.id);
        assert.equal(byName.get('c')!.state.exitCode, 0);
        assert.deepEqual(
          (await fresh.list({ pod: 'uid-1' })).map((x) => x.id),
          [a],
        );
        assert.deepEqual(
          (await fresh.list({ pod: 'uid-1', restart: '0' })).map((x) => x.id),
          [a],
        );
        assert.deepEqual(await fresh.list({ pod: 'uid-1', restart: '1' }), []);
        assert.deepEqual(
          (await fresh.list({ pod: 'uid-2' })).map((x) => x.name),
          ['b'],
        );
        for (const id of [a, b, c]) await fresh.remove(id);
      }));

    it('each container has its own writable root over an untouched image; read-only roots, volumes and pod files', () =>
      withEnv(async ({ rt, dir, spec }) => {
        const vol = join(dir, 'vol');
        await mkdir(vol);
        await writeFile(join(vol, 'hello'), 'from host\n');
        const podDir = join(dir, 'pod');
        await mkdir(podDir);
        await writeFile(join(podDir, 'hosts'), '10.1.2.3 pod-a\n');
        await writeFile(join(podDir, 'hostname'), 'pod-a\n');
        await writeFile(join(podDir, 'resolv.conf'), 'nameserver 10.96.0.10\n');
        const w = await rt.create(
          spec({
            command: ['sh', '-c', 'echo changed > /etc/passwd && cat /data/hello && echo from container > /data/out && cat /etc/hosts /etc/resolv.conf'],
            mounts: [{ hostPath: vol, containerPath: '/data' }],
            etcHosts: join(podDir, 'hosts'),
            etcHostname: join(podDir, 'hostname'),
            resolvConf: join(podDir, 'resolv.conf'),
          }),
        );
        assert.equal((await rt.waitStopped(w, 10_000)).exitCode, 0, await logText(rt, w));
        assert.equal(await logText(rt, w), 'from host\n10.1.2.3 pod-a\nnameserver 10.96.0.10\n');
        assert.equal(await readFile(join(vol, 'out'), 'utf8'), 'from container\n');
        assert.match(await readFile(join(image.rootfs, 'etc/passwd'), 'utf8'), /^root:x:0:0/);
        const r = await rt.create(spec({ name: 'r', command: ['cat', '/etc/passwd'] }));
        await rt.waitStopped(r, 10_000);
        assert.match(await logText(rt, r), /^root:x:0:0/);
        const ro = await rt.create(spec({ name: 'ro', command: ['touch', '/x'], securityContext: { readOnlyRootFilesystem: true } }));
        assert.notEqual((await rt.waitStopped(ro, 10_000)).exitCode, 0);
        assert.match(await logText(rt, ro), /Read-only file system/);
        for (const id of [w, r, ro]) await rt.remove(id);
      }));
  });
