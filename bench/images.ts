// Image benchmark (root only), anchors measured in the same run:
//   1. pull + unpack of a ~50 MB three-layer image (Debian's python3.11 and its whole stdlib, gzip) from a
//      local docker-registry: k8ts's puller beside containerd's `ctr images pull` (Debian's containerd,
//      started here with its own root, state and socket, stopped after) and beside raw `curl` of the
//      blobs piped into `tar -xz` (three at once, as both pullers fetch);
//   2. 50 containers from that image's three layers: disk per container and create time, beside the built-in
//      busybox (one layer) on the same runtime. Both run the same static busybox `sleep` with the same config
//      (a fourth layer adds the binary to the python layers), so the row differs only in the root filesystem.
//   node dist/bench/images.js [--repeats 3] [--containers 50]
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Puller } from '../src/agent/images/pull.js';
import { Registries } from '../src/agent/images/registries.js';
import { ImageStore } from '../src/agent/images/store.js';
import { buildImage, buildLayer, dirSize, pushImage, pythonImage, startRegistry } from '../src/agent/images/testing.js';
import { BUSYBOX_BINARY, DEFAULT_PATH } from '../src/agent/images/builtin.js';
import { ensureImages } from '../src/agent/runtime/images.js';
import { Runtime } from '../src/agent/runtime/runtime.js';
import { run } from '../src/util/exec.js';
import { summarize, table } from './lib.js';

const args = process.argv.slice(2);
const arg = (n: string, d: number) => (args.includes(n) ? Number(args[args.indexOf(n) + 1]) : d);
const REPEATS = arg('--repeats', 3);
const CONTAINERS = arg('--containers', 50);
const load = () => readFileSync('/proc/loadavg', 'utf8').trim();
const median = (xs: number[]) => summarize(xs).p50;

function sh(cmd: string): number {
  const t0 = performance.now();
  const r = spawnSync('sh', ['-c', cmd], { stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd}: ${r.stderr}`);
  return performance.now() - t0;
}

async function startContainerd(dir: string): Promise<{ sock: string; child: ChildProcess }> {
  mkdirSync(dir, { recursive: true });
  const sock = join(dir, 'containerd.sock');
  writeFileSync(
    join(dir, 'config.toml'),
    `version = 2\nroot = "${join(dir, 'root')}"\nstate = "${join(dir, 'state')}"\n[grpc]\n  address = "${sock}"\n[plugins."io.containerd.grpc.v1.cri"]\n  disable_tcp_service = true\n`,
  );
  const child = spawn('containerd', ['--config', join(dir, 'config.toml')], { stdio: ['ignore', 'ignore', 'ignore'] });
  for (let i = 0; i < 200 && !existsSync(sock); i++) await new Promise((r) => setTimeout(r, 50));
  if (!existsSync(sock)) throw new Error('containerd did not start');
  return { sock, child };
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) {
    console.error('bench/images: needs root (overlay, runc, containerd)');
    process.exit(2);
  }
  const dir = mkdtempSync(join(tmpdir(), 'k8ts-bench-images-'));
  const netns = `k8tsimgb-${randomBytes(3).toString('hex')}`;
  let reg: Awaited<ReturnType<typeof startRegistry>> | undefined;
  let ctrd: { sock: string; child: ChildProcess } | undefined;
  let rt: Runtime | undefined;
  try {
    console.log(`load before: ${load()}`);
    const img = await pythonImage({ fullStdlib: true });
    reg = await startRegistry({ dir: join(dir, 'registry') });
    await pushImage({ url: reg.url }, 'bench/python', '1', img);
    const ref = `${reg.addr}/bench/python:1`;
    const compressed = img.layers.reduce((a, l) => a + l.size, 0);
    console.log(`image: ${ref}, ${img.layers.length} layers, ${(compressed / 1e6).toFixed(1)} MB compressed`);
    const regs = Registries.parse(`mirrors:\n  "${reg.addr}":\n    endpoint: ["http://${reg.addr}"]\n`);

    ctrd = await startContainerd(join(dir, 'containerd'));
    const ours: number[] = [];
    const ctr: number[] = [];
    const curl: number[] = [];
    let unpackedBytes = 0;
    for (let i = 0; i < REPEATS; i++) {
      // Interleaved, so drifting machine load hits all three alike.
      const store = new ImageStore(join(dir, `store-${i}`));
      const p = new Puller(store, regs);
      const t0 = performance.now();
      const r = await p.pull(ref);
      ours.push(performance.now() - t0);
      p.close();
      if (i === 0) unpackedBytes = r.stored.lowerdirs.reduce((a, d) => a + dirSize(d), 0);

      ctr.push(sh(`ctr --address ${ctrd.sock} -n bench${i} images pull --plain-http ${ref}`));

      const out = join(dir, `curl-${i}`);
      mkdirSync(out);
      const base = `http://${reg.addr}/v2/bench/python`;
      const pipes = img.layers.map((l, k) => `mkdir -p ${out}/${k} && curl -sf ${base}/blobs/${l.digest} | tar -xzf - -C ${out}/${k}`);
      curl.push(
        sh(
          `curl -sf -H 'Accept: application/vnd.oci.image.manifest.v1+json' ${base}/manifests/1 >/dev/null && curl -sf ${base}/blobs/${img.configDigest} >/dev/null && (${pipes.map((x) => `(${x}) &`).join(' ')} wait)`,
        ),
      );
      rmSync(out, { recursive: true, force: true });
      rmSync(join(dir, `store-${i}`), { recursive: true, force: true });
    }
    console.log(`\n1. pull + unpack, ${REPEATS} repeats (ms); unpacked ${(unpackedBytes / 1e6).toFixed(1)} MB on disk`);
    console.log(
      table([
        ['', 'median', 'min', 'max'],
        ['k8ts puller', median(ours), Math.min(...ours), Math.max(...ours)],
        ['anchor: ctr images pull (containerd)', median(ctr), Math.min(...ctr), Math.max(...ctr)],
        ['anchor: curl | tar -xz (3 at once)', median(curl), Math.min(...curl), Math.max(...curl)],
      ]),
    );
    console.log(`ratio k8ts / containerd: ${(median(ours) / median(ctr)).toFixed(2)} (goal ≤ 1.2)`);
    console.log(`ratio k8ts / curl+tar:   ${(median(ours) / median(curl)).toFixed(2)} (goal ≤ 1.5)`);
    console.log(`load: ${load()}`);

    // 2. Containers. The python layers plus one with the static busybox, and a config like the built-in's
    // (no User to look up, no WorkingDir to make): the same program in both, only the root differs.
    const bb = await buildLayer([
      { name: 'bin/', type: 'directory' },
      { name: 'bin/busybox', data: readFileSync(BUSYBOX_BINARY), mode: 0o755 },
    ]);
    const withBusybox = buildImage([...img.layers, bb], { Env: [`PATH=${DEFAULT_PATH}`], Cmd: ['sh'] });
    await pushImage({ url: reg.url }, 'bench/python', 'busybox', withBusybox);
    const refBusybox = `${reg.addr}/bench/python:busybox`;
    await run(['ip', 'netns', 'add', netns]);
    const store = new ImageStore(join(dir, 'images'));
    await new Puller(store, regs).pull(refBusybox);
    await ensureImages(join(dir, 'images'));
    rt = new Runtime({ stateDir: join(dir, 'state'), imagesDir: join(dir, 'images') });
    const rows: (string | number)[][] = [['image', 'create p50 ms', 'p90', 'disk per container KiB']];
    const results: Record<string, { p50: number; disk: number }> = {};
    const kinds = [
      ['anchor: built-in busybox (1 layer)', 'busybox', ['/bin/busybox', 'sleep', '600']],
      ['python3 layers + busybox (4 layers)', refBusybox, ['/bin/busybox', 'sleep', '600']],
    ] as [string, string, string[]][];
    const ids = new Map<string, string[]>(kinds.map(([l]) => [l, []]));
    const ms = new Map<string, number[]>(kinds.map(([l]) => [l, []]));
    // Interleaved, one of each in turn, so the machine's drifting load falls on both rows alike.
    for (let i = 0; i < CONTAINERS; i++) {
      for (const [label, image, command] of kinds) {
        const t0 = performance.now();
        ids.get(label)!.push(await rt.create({ name: `c${i}`, podName: `bench-${i}`, image, command, netns: `/run/netns/${netns}`, labels: { bench: label } }));
        ms.get(label)!.push(performance.now() - t0);
      }
    }
    for (const [label] of kinds) {
      const disk = ids.get(label)!.reduce((a, id) => a + dirSize(rt!.paths(id).dir), 0) / CONTAINERS;
      const s = summarize(ms.get(label)!);
      results[label] = { p50: s.p50, disk };
      rows.push([label, s.p50, s.p90, disk / 1024]);
    }
    await Promise.all([...ids.values()].flat().map((id) => rt!.remove(id)));
    console.log(
      `\n2. ${CONTAINERS} containers from one image (runc create + start until the process runs; disk = the container's dir: upper, work, bundle, log)`,
    );
    console.log(table(rows));
    const [b, p] = [results['anchor: built-in busybox (1 layer)'], results['python3 layers + busybox (4 layers)']];
    console.log(
      `disk per container: ${(p.disk / 1024).toFixed(0)} KiB (goal ≤ 1024 KiB); create beside the built-in image: ${(p.p50 - b.p50).toFixed(1)} ms more per container (goal ≤ 5)`,
    );
    console.log(`load after: ${load()}`);
  } finally {
    rt?.close();
    if (ctrd) {
      ctrd.child.kill('SIGTERM');
      await new Promise((r) => setTimeout(r, 500));
      if (ctrd.child.exitCode === null) ctrd.child.kill('SIGKILL');
      // containerd's overlay snapshots are mounted only while in use; nothing should be left, but make sure.
      spawnSync('sh', ['-c', `grep -o ' ${dir}[^ ]*' /proc/mounts | sort -r | xargs -r -n1 umount -l`]);
    }
    await reg?.stop();
    await run(['ip', 'netns', 'del', netns]).catch(() => {});
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
