// Container runtime benchmark: start (until the process runs) and stop+remove of busybox containers in a
// pod network namespace, ours beside raw runc on a prepared bundle measured in the same run (root only).
//   node dist/bench/runtime.js [--n 20]
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { run } from '../src/util/exec.js';
import { ensureImages } from '../src/agent/runtime/images.js';
import { Runtime } from '../src/agent/runtime/runtime.js';
import { containerArgv, ociConfig } from '../src/agent/runtime/spec.js';
import { fmt, summarize, table } from './lib.js';

const args = process.argv.slice(2);
const N = Number(args[args.indexOf('--n') + 1] || 20) || 20;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** `runc run -d` with the container's stdio on /dev/null; resolves when runc returns (the process runs). */
function runcRunDetached(runcRoot: string, bundle: string, id: string, pidFile: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const p = spawn('runc', ['--root', runcRoot, 'run', '--detach', '--bundle', bundle, '--pid-file', pidFile, id], { stdio: 'ignore' });
    p.on('error', reject);
    p.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`runc run exited ${code}`))));
  });
}

async function gone(pid: number): Promise<void> {
  for (;;) {
    try {
      process.kill(pid, 0);
    } catch {
      return;
    }
    // A dead container process stays a zombie until its new parent reaps it; that counts as gone.
    try {
      if (readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.startsWith('Z')) return;
    } catch {
      return;
    }
    await sleep(1);
  }
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) {
    console.error('bench/runtime: needs root (runc, network namespaces)');
    process.exit(2);
  }
  const dir = mkdtempSync(join(tmpdir(), 'k8tsrt-bench-'));
  const netns = `k8tsrt-${randomBytes(4).toString('hex')}`;
  const nsPath = `/run/netns/${netns}`;
  let rt: Runtime | undefined;
  const rawRoot = join(dir, 'raw-runc');
  try {
    await run(['ip', 'netns', 'add', netns]);
    await run(['ip', '-n', netns, 'link', 'set', 'lo', 'up']);
    const [image] = await ensureImages(join(dir, 'images'));
    rt = new Runtime({ stateDir: join(dir, 'state'), imagesDir: join(dir, 'images') });
    const spec = { name: 'bench', podName: 'bench', image: 'busybox', command: ['sleep', '3600'], netns: nsPath };

    // Anchor bundles: the same OCI config we generate, on the image rootfs as it is (read-only, no overlay),
    // and with our per-container overlay root.
    const plain = join(dir, 'plain');
    mkdirSync(plain);
    const cfg = ociConfig({
      spec,
      image: image.config,
      argv: containerArgv(image.config, spec.command),
      lower: image.rootfs,
      upper: join(plain, 'upper'),
      work: join(plain, 'work'),
    });
    (cfg.mounts as unknown[]).shift();
    cfg.root = { path: image.rootfs, readonly: true };
    writeFileSync(join(plain, 'config.json'), JSON.stringify(cfg));

    const overlay = join(dir, 'overlay');
    mkdirSync(join(overlay, 'rootfs'), { recursive: true });
    const ocfg = ociConfig({
      spec,
      image: image.config,
      argv: containerArgv(image.config, spec.command),
      lower: image.rootfs,
      upper: join(overlay, 'upper'),
      work: join(overlay, 'work'),
    });
    writeFileSync(join(overlay, 'config.json'), JSON.stringify(ocfg));

    const startRaw: number[] = [];
    const startOverlay: number[] = [];
    const stopRaw: number[] = [];
    const startOurs: number[] = [];
    const stopOurs: number[] = [];
    const shimRss: number[] = [];
    const inShim: number[] = [];
    // Warm-up: page cache, runc binary, perl.
    await rt.remove(await rt.create(spec));

    for (let i = 0; i < N; i++) {
      const id = `raw-${i}`;
      const pidFile = join(dir, `raw-${i}.pid`);
      let t0 = performance.now();
      await runcRunDetached(rawRoot, plain, id, pidFile);
      startRaw.push(performance.now() - t0);
      const pid = Number(readFileSync(pidFile, 'utf8'));
      t0 = performance.now();
      await run(['runc', '--root', rawRoot, 'kill', id, 'KILL']);
      await gone(pid);
      await run(['runc', '--root', rawRoot, 'delete', id]);
      stopRaw.push(performance.now() - t0);

      rmSync(join(overlay, 'upper'), { recursive: true, force: true });
      rmSync(join(overlay, 'work'), { recursive: true, force: true });
      mkdirSync(join(overlay, 'upper'));
      mkdirSync(join(overlay, 'work'));
      t0 = performance.now();
      await runcRunDetached(rawRoot, overlay, `ov-${i}`, pidFile);
      startOverlay.push(performance.now() - t0);
      const opid = Number(readFileSync(pidFile, 'utf8'));
      await run(['runc', '--root', rawRoot, 'kill', `ov-${i}`, 'KILL']);
      await gone(opid);
      await run(['runc', '--root', rawRoot, 'delete', `ov-${i}`]);

      t0 = performance.now();
      const cid = await rt.create(spec);
      startOurs.push(performance.now() - t0);
      const st = await rt.state(cid);
      if (st.status !== 'running') throw new Error(`container ${cid} is ${st.status}`);
      // The shim notes when it got the container (its 'shim' file) and when runc had started it ('init').
      const cdir = join(dir, 'state', 'containers', cid);
      const [, , isec, insec] = readFileSync(join(cdir, 'init'), 'utf8').trim().split(' ').map(Number);
      inShim.push(isec * 1000 + insec / 1e6 - Number(statSync(join(cdir, 'shim'), { bigint: true }).mtimeNs) / 1e6);
      const status = readFileSync(`/proc/${st.shimPid}/status`, 'utf8');
      shimRss.push(Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? NaN) / 1024);
      t0 = performance.now();
      await rt.stop(cid, 0);
      await rt.remove(cid);
      stopOurs.push(performance.now() - t0);
    }

    const s = {
      startOverlay: summarize(startOverlay),
      startRaw: summarize(startRaw),
      stopRaw: summarize(stopRaw),
      startOurs: summarize(startOurs),
      stopOurs: summarize(stopOurs),
    };
    const mean = (a: number[]) => a.reduce((x, y) => x + y, 0) / a.length;
    console.log(`\n=== container runtime: ${N} busybox containers (sleep) in one pod network namespace, sequential ===`);
    console.log(
      table([
        ['step', 'p50 ms', 'p90 ms', 'max ms', 'mean ms'],
        ['anchor: runc run -d (prepared bundle, image rootfs)', s.startRaw.p50, s.startRaw.p90, s.startRaw.max, mean(startRaw)],
        ['runc run -d, our bundle (overlay root, same config)', s.startOverlay.p50, s.startOverlay.p90, s.startOverlay.max, mean(startOverlay)],
        ['k8ts create (config + overlay root + shim + runc run -d)', s.startOurs.p50, s.startOurs.p90, s.startOurs.max, mean(startOurs)],
        ['  of which runc run -d inside the shim', summarize(inShim).p50, summarize(inShim).p90, summarize(inShim).max, mean(inShim)],
        ['anchor: runc kill KILL + wait + runc delete', s.stopRaw.p50, s.stopRaw.p90, s.stopRaw.max, mean(stopRaw)],
        ['k8ts stop(grace 0) + remove', s.stopOurs.p50, s.stopOurs.p90, s.stopOurs.max, mean(stopOurs)],
      ]),
    );
    console.log(`ratio start (k8ts / runc run -d, p50): ${fmt(s.startOurs.p50 / s.startRaw.p50)}`);
    console.log(`ratio start (k8ts / runc run -d on our bundle, p50): ${fmt(s.startOurs.p50 / s.startOverlay.p50)}`);
    console.log(`ratio stop+remove (k8ts / runc kill+wait+delete, p50): ${fmt(s.stopOurs.p50 / s.stopRaw.p50)}`);
    console.log(`shim RSS per running container (perl): ${fmt(mean(shimRss))} MB`);
  } finally {
    if (rt) for (const c of await rt.list().catch(() => [])) await rt.remove(c.id).catch(() => {});
    const left = await run(['runc', '--root', rawRoot, 'list', '-q']).catch(() => ({ stdout: '' }));
    for (const id of left.stdout.split('\n').filter(Boolean)) await run(['runc', '--root', rawRoot, 'delete', '--force', id]).catch(() => {});
    await run(['ip', 'netns', 'del', netns]).catch(() => {});
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
