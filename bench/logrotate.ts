// Container log throughput with rotation: a busybox container writing 65-byte lines as fast as it can,
// through its shim (pipe → log file, rotated at 1 MiB and at the 10 MiB default, 5 files), beside the
// anchor measured in the same run: the same busybox pipeline on the host writing into a plain file (root only).
//   node dist/bench/logrotate.js [--mib 200] [--rounds 3]
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { run } from '../src/util/exec.js';
import { ensureImages } from '../src/agent/runtime/images.js';
import { Runtime } from '../src/agent/runtime/runtime.js';
import { fmt, table } from './lib.js';

const args = process.argv.slice(2);
const opt = (name: string, d: number) => (args.includes(name) ? Number(args[args.indexOf(name) + 1]) || d : d);
const MIB = opt('--mib', 200);
const ROUNDS = opt('--rounds', 3);
const load = () => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
const WRITER = `yes 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde | head -c ${MIB * 1024 * 1024}`;

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('logrotate bench: needs root (runc containers)');
  const dir = mkdtempSync(join(tmpdir(), 'k8ts-bench-logrotate-'));
  const netns = `k8tsbl-${randomBytes(3).toString('hex')}`;
  await run(['ip', 'netns', 'add', netns]);
  try {
    const imagesDir = join(dir, 'images');
    await ensureImages(imagesDir);
    const runtimes = {
      'shim, 1Mi × 5': new Runtime({ stateDir: join(dir, 's1'), imagesDir, containerLog: { maxBytes: 1 << 20, maxFiles: 5 } }),
      'shim, 10Mi × 5': new Runtime({ stateDir: join(dir, 's10'), imagesDir, containerLog: { maxBytes: 10 << 20, maxFiles: 5 } }),
    };
    const rows: (string | number)[][] = [['writer', 'round', 'MiB/s', 'ratio to plain file', 'load']];
    for (let r = 1; r <= ROUNDS; r++) {
      // Anchor: the same pipeline, busybox on the host, into a plain file.
      const plain = join(dir, 'plain.log');
      let t = performance.now();
      await run(['/bin/busybox', 'sh', '-c', `${WRITER} > ${plain}`]);
      const anchor = MIB / ((performance.now() - t) / 1000);
      if (statSync(plain).size !== MIB * 1024 * 1024) throw new Error('the anchor wrote a short file');
      rmSync(plain);
      rows.push(['plain file (anchor)', String(r), fmt(anchor, 0), '1.00', load()]);
      for (const [name, rt] of Object.entries(runtimes)) {
        t = performance.now();
        const id = await rt.create({ name: 'w', podName: 'bench', image: 'busybox', netns: `/run/netns/${netns}`, command: ['sh', '-c', WRITER] });
        const st = await rt.waitStopped(id, 600_000);
        const rate = MIB / ((performance.now() - t) / 1000);
        if (st.exitCode !== 0) throw new Error(`${name}: the writer exited ${st.exitCode}`);
        await rt.remove(id);
        rows.push([name, String(r), fmt(rate, 0), fmt(rate / anchor, 2), load()]);
      }
    }
    for (const rt of Object.values(runtimes)) rt.close();
    console.log(`k8ts log rotation bench: ${MIB} MiB of 65-byte lines per run (create to exit, so the shim's start is in it)`);
    console.log(table(rows));
  } finally {
    await run(['ip', 'netns', 'del', netns]).catch(() => {});
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(e instanceof Error ? e.message : e);
  process.exitCode = 1;
});
