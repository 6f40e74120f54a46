// Mounts under a directory (containers' rootfs, bind mounts an agent made), found in /proc/self/mountinfo,
// so `down` can unmount them before it removes the directory.
import { readFileSync } from 'node:fs';
import { run } from '../util/exec.js';

/** Mount points at or under dir, innermost (last mounted) first: the order to unmount them in. */
export async function mountsUnder(dir: string): Promise<string[]> {
  const root = dir.replace(/\/+$/, '');
  // Read synchronously: procfs makes the text at once, and fs/promises' four thread-pool trips cost more.
  const info = readFileSync('/proc/self/mountinfo', 'utf8');
  const points = info
    .split('\n')
    .filter(Boolean)
    .map((line) => unescapeMount(line.split(' ')[4]))
    .filter((p) => p === root || p.startsWith(root + '/'));
  // A later line can be mounted over an earlier one; reversing the table unmounts the top one first.
  return [...new Set(points.reverse())];
}

/** Unmounts everything under dir; a busy mount is detached lazily. Returns the mount points removed. */
export async function unmountUnder(dir: string): Promise<string[]> {
  const done: string[] = [];
  // A mount can show up several times (stacked); loop until the table shows none, bounded.
  for (let round = 0; round < 8; round++) {
    const points = await mountsUnder(dir);
    if (!points.length) break;
    for (const p of points) {
      try {
        await run(['umount', p]);
      } catch {
        await run(['umount', '--lazy', p]).catch(() => {});
      }
      done.push(p);
    }
  }
  return [...new Set(done)];
}

function unescapeMount(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}
