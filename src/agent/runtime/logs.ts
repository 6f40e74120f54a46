// Reading a container's log (kubectl logs): the raw bytes the container wrote to its current log file, with
// line timestamps taken from the shim's size index (log.idx: "the file had N bytes at time T").
//
// A line's timestamp is the first index time at which the file held the whole line (exact after a quiet
// spell, up to 50 ms late within a burst); lines the index does not cover yet (written in the last
// instant, or while no shim was watching) get the file's mtime.
//
// Rotation (the shim's, see shim.ts): as the kubelet, only the current file is read; rotated files are
// for the node's operator. The file and its index are opened as a pair and kept open, and the index names
// its file's inode, so a reader that opened them mid-rotation sees it and opens both again. A follower at
// the end of its file that finds `log` is a new file reads the old one to its end (the shim writes nothing
// more to a file once it is renamed) and goes on at the start of the next one: no line lost or repeated.
// The next one is the rotated file after its own (rotated files are links of `log`, so the inode finds its
// own among them), which keeps a follower that fell a few rotations behind from skipping whole files; lines
// of a rotated file have no index left and take its mtime. A follower more than max-files behind has lost
// what was deleted, and goes on from the oldest file kept.
import { watch } from 'node:fs';
import { open, readdir, stat, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import type { ContainerPaths, NsTime } from './container.js';

export interface LogOptions {
  /** Keep streaming what the container writes until it stops (or the stream is destroyed). */
  follow?: boolean;
  /** Only the last N lines. */
  tailLines?: number;
  /** Only lines written in the last N seconds. */
  sinceSeconds?: number;
  /** Only lines written at or after this time (sinceSeconds wins if both are given). */
  sinceTime?: Date;
  /** Prefix each line with its RFC 3339 timestamp (nanoseconds, UTC) and a space. */
  timestamps?: boolean;
  /** Stop after this many bytes of output. */
  limitBytes?: number;
}

const CHUNK = 64 * 1024;

export function formatTimestamp(t: NsTime): string {
  return `${new Date(t.sec * 1000).toISOString().slice(0, 19)}.${String(t.nsec).padStart(9, '0')}Z`;
}

function before(a: NsTime, b: NsTime): boolean {
  return a.sec < b.sec || (a.sec === b.sec && a.nsec < b.nsec);
}

/** The index of one log file, read incrementally as the shim appends to it (kept open: a rotation replaces
 *  the path, while this reader may still be finishing the old file). */
class SizeIndex {
  offsets: number[] = [];
  times: NsTime[] = [];
  /** The inode of the log file this index is for, from its header (indexes older shims wrote have none). */
  ino?: number;
  private pos = 0;
  private rest = '';
  private constructor(private fh: FileHandle | undefined) {}

  /** A file without an index (a rotated one): its lines take its mtime. */
  static none(): SizeIndex {
    return new SizeIndex(undefined);
  }

  static async open(path: string): Promise<SizeIndex> {
    const idx = new SizeIndex(await open(path, 'r').catch(() => undefined));
    await idx.refresh();
    return idx;
  }

  async close(): Promise<void> {
    await this.fh?.close();
    this.fh = undefined;
  }

  async refresh(): Promise<void> {
    const fh = this.fh;
    if (!fh) return;
    for (;;) {
      const buf = Buffer.alloc(CHUNK);
      const { bytesRead } = await fh.read(buf, 0, CHUNK, this.pos);
      if (!bytesRead) break;
      this.pos += bytesRead;
      const lines = (this.rest + buf.subarray(0, bytesRead).toString()).split('\n');
      this.rest = lines.pop()!;
      for (const l of lines) {
        if (l.startsWith('# ')) {
          if (/^# \d+$/.test(l)) this.ino = Number(l.slice(2));
          continue;
        }
        const [size, sec, nsec] = l.split(' ').map(Number);
        if (!Number.isFinite(size) || !Number.isFinite(sec) || !Number.isFinite(nsec)) continue;
        if (this.offsets.length && size <= this.offsets[this.offsets.length - 1]) continue;
        this.offsets.push(size);
        this.times.push({ sec, nsec });
      }
    }
  }

  /** Time of the first entry whose size covers end, if any. */
  timeOf(end: number): NsTime | undefined {
    let lo = 0;
    let hi = this.offsets.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.offsets[mid] >= end) hi = mid;
      else lo = mid + 1;
    }
    return lo < this.offsets.length ? this.times[lo] : undefined;
  }

  /** Size of the file just before the first entry at or after t: lines ending after it are not older than t. */
  sizeBefore(t: NsTime): number | undefined {
    const k = this.times.findIndex((x) => !before(x, t));
    if (k < 0) return this.offsets.length ? this.offsets[this.offsets.length - 1] : 0;
    return k === 0 ? 0 : this.offsets[k - 1];
  }
}

/** Start of the line that holds byte `pos` (0 if none before it). */
async function lineStart(fh: FileHandle, pos: number): Promise<number> {
  let end = pos;
  while (end > 0) {
    const start = Math.max(0, end - CHUNK);
    const buf = Buffer.alloc(end - start);
    await fh.read(buf, 0, buf.length, start);
    const i = buf.lastIndexOf(0x0a);
    if (i >= 0) return start + i + 1;
    end = start;
  }
  return 0;
}

/** Where the last n lines of the first `size` bytes begin (a final line without newline counts). */
async function tailStart(fh: FileHandle, size: number, n: number): Promise<number> {
  if (n <= 0) return size;
  let end = size;
  let seen = 0;
  let skipFinal = true;
  while (end > 0) {
    const start = Math.max(0, end - CHUNK);
    const buf = Buffer.alloc(end - start);
    await fh.read(buf, 0, buf.length, start);
    for (let i = buf.length - 1; i >= 0; i--) {
      if (buf[i] !== 0x0a) {
        skipFinal = false;
        continue;
      }
      if (skipFinal && start + i === size - 1) {
        skipFinal = false;
        continue;
      }
      if (++seen === n) return start + i + 1;
    }
    end = start;
  }
  return 0;
}

async function mtimeNs(fh: FileHandle): Promise<NsTime> {
  const st = await fh.stat({ bigint: true });
  return { sec: Number(st.mtimeNs / 1_000_000_000n), nsec: Number(st.mtimeNs % 1_000_000_000n) };
}

/** The current log file and its index, opened as a pair: the index's header names the file's inode, and a
 *  pair opened while the shim was between its two renames does not match and is opened again. */
async function openCurrent(p: ContainerPaths): Promise<{ fh: FileHandle; idx: SizeIndex; ino: number }> {
  for (let attempt = 0; ; attempt++) {
    const fh = await open(p.log, 'r');
    const idx = await SizeIndex.open(p.idx);
    const ino = (await fh.stat()).ino;
    if (idx.ino === undefined || idx.ino === ino || attempt >= 50) return { fh, idx, ino };
    await Promise.all([fh.close(), idx.close()]);
    await new Promise((r) => setTimeout(r, 2));
  }
}

/** Whether `log` is now another file than the one open (the shim rotated it). */
async function rotatedAway(p: ContainerPaths, ino: number): Promise<boolean> {
  const st = await stat(p.log).catch(() => undefined);
  return st !== undefined && st.ino !== ino;
}

const ROTATED = /^log\.\d{8}-\d{6}\.\d{9}$/;

/** The rotated file written after the one with this inode (the oldest kept if that one is gone); undefined:
 *  the current file is next. */
async function successor(p: ContainerPaths, ino: number): Promise<string | undefined> {
  const names = (await readdir(p.dir)).filter((n) => ROTATED.test(n)).sort();
  let mine: string | undefined;
  for (const n of names) {
    if ((await stat(join(p.dir, n)).catch(() => undefined))?.ino === ino) {
      mine = n;
      break;
    }
  }
  const later = mine === undefined ? names : names.filter((n) => n > mine);
  return later.length ? join(p.dir, later[0]) : undefined;
}

interface Control {
  closed: boolean;
  wake?: () => void;
}

async function* logChunks(p: ContainerPaths, opts: LogOptions, finished: () => Promise<boolean>, ctl: Control): AsyncGenerator<Buffer> {
  let { fh, idx, ino } = await openCurrent(p);
  let watcher: ReturnType<typeof watch> | undefined;
  try {
    const size0 = (await fh.stat()).size;
    let pos = 0;
    if (opts.tailLines !== undefined && opts.tailLines >= 0) pos = await tailStart(fh, size0, opts.tailLines);
    const since: NsTime | undefined =
      opts.sinceSeconds !== undefined
        ? (() => {
            const ms = Date.now() - opts.sinceSeconds * 1000;
            return { sec: Math.floor(ms / 1000), nsec: (ms % 1000) * 1e6 };
          })()
        : opts.sinceTime
          ? { sec: Math.floor(opts.sinceTime.getTime() / 1000), nsec: (opts.sinceTime.getTime() % 1000) * 1e6 }
          : undefined;
    if (since) {
      const from = idx.sizeBefore(since);
      if (from !== undefined && from > pos) pos = await lineStart(fh, Math.min(from, size0));
    }
    const perLine = !!opts.timestamps || !!since;
    let budget = opts.limitBytes !== undefined && opts.limitBytes > 0 ? opts.limitBytes : Infinity;
    let pending = Buffer.alloc(0);
    let pendingStart = pos;

    const stampOf = async (end: number): Promise<NsTime> => {
      let t = idx.timeOf(end);
      if (!t) {
        await idx.refresh();
        t = idx.timeOf(end);
      }
      return t ?? (await mtimeNs(fh));
    };
    // Yields at most the remaining budget; false once the budget is spent.
    const emit = function* (b: Buffer): Generator<Buffer, boolean> {
      if (budget <= 0) return false;
      const out = b.length > budget ? b.subarray(0, budget) : b;
      budget -= out.length;
      if (out.length) yield out;
      return budget > 0;
    };
    const lineOut = async (line: Buffer, end: number): Promise<Buffer | undefined> => {
      const t = await stampOf(end);
      if (since && before(t, since)) return undefined;
      return opts.timestamps ? Buffer.concat([Buffer.from(formatTimestamp(t) + ' '), line]) : line;
    };

    if (opts.follow) {
      try {
        watcher = watch(p.dir, () => ctl.wake?.());
        watcher.on('error', () => {});
      } catch {
        watcher = undefined;
      }
    }
    for (;;) {
      const fin = opts.follow ? await finished() : true;
      const size = (await fh.stat()).size;
      if (size < pos) {
        pos = 0;
        pending = Buffer.alloc(0);
        pendingStart = 0;
      }
      while (pos < size) {
        const buf = Buffer.alloc(Math.min(CHUNK, size - pos));
        const { bytesRead } = await fh.read(buf, 0, buf.length, pos);
        if (!bytesRead) break;
        const data = buf.subarray(0, bytesRead);
        pos += bytesRead;
        if (!perLine) {
          if (!(yield* emit(data))) return;
          continue;
        }
        pending = pending.length ? Buffer.concat([pending, data]) : data;
        let nl: number;
        while ((nl = pending.indexOf(0x0a)) >= 0) {
          const line = pending.subarray(0, nl + 1);
          const end = pendingStart + nl + 1;
          pending = pending.subarray(nl + 1);
          pendingStart = end;
          const out = await lineOut(line, end);
          if (out && !(yield* emit(out))) return;
        }
      }
      // At the end of this file: if the shim has rotated it, what is left of it was read by the loop above
      // only if it was written before the stat; read it to its real end, then go on in the new file.
      if (opts.follow && (await rotatedAway(p, ino))) {
        if ((await fh.stat()).size > pos) continue;
        const path = await successor(p, ino);
        let next: { fh: FileHandle; idx: SizeIndex; ino: number };
        if (path === undefined) {
          next = await openCurrent(p);
          // `log` may have been rotated again between the listing and the open: the file open must be the
          // one after ours, else it was a later one and the one between would be skipped.
          const between = await successor(p, ino);
          if (between !== undefined && (await stat(between).catch(() => undefined))?.ino !== next.ino) {
            await Promise.all([next.fh.close(), next.idx.close()]);
            continue;
          }
        } else {
          const rfh = await open(path, 'r').catch(() => undefined);
          // Deleted since the listing: look again.
          if (!rfh) continue;
          next = { fh: rfh, idx: SizeIndex.none(), ino: (await rfh.stat()).ino };
        }
        await Promise.all([fh.close(), idx.close()]);
        ({ fh, idx, ino } = next);
        pos = 0;
        // A line the old file ended without finishing goes on in the new one: its offsets are the new file's.
        pendingStart = -pending.length;
        continue;
      }
      if (fin) {
        if (pending.length) {
          const out = await lineOut(pending, pendingStart + pending.length);
          if (out) yield* emit(out);
        }
        return;
      }
      if (ctl.closed) return;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 250);
        ctl.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      ctl.wake = undefined;
      if (ctl.closed) return;
    }
  } finally {
    watcher?.close();
    await Promise.all([fh.close(), idx.close()]);
  }
}

/** A byte stream of the log as LogOptions select; destroy it to stop following. */
export function readLog(p: ContainerPaths, opts: LogOptions, finished: () => Promise<boolean>): Readable {
  const ctl: Control = { closed: false };
  const gen = logChunks(p, opts, finished, ctl);
  return new Readable({
    read() {
      gen.next().then(
        (r) => this.push(r.done ? null : r.value),
        (e: Error) => this.destroy(e),
      );
    },
    destroy(err, cb) {
      // A follower waits for the file to change; wake it so the generator sees it is closed and cleans up.
      ctl.closed = true;
      ctl.wake?.();
      gen.return(undefined).then(
        () => cb(err),
        () => cb(err),
      );
    },
  });
}
