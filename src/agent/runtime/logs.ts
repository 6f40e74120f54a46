// Reading a container's log (kubectl logs): the raw bytes the container wrote to its log file, with line
// timestamps taken from the shim's size index (log.idx: "the file had N bytes at time T").
//
// A line's timestamp is the first index time at which the file held the whole line (exact after a quiet
// spell, up to 50 ms late within a burst); lines the index does not cover yet (written in the last
// instant, or while no shim was watching) get the file's mtime.
import { watch } from 'node:fs';
import { open, stat, type FileHandle } from 'node:fs/promises';
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

/** The index, read incrementally as the shim appends to it. */
class SizeIndex {
  offsets: number[] = [];
  times: NsTime[] = [];
  private pos = 0;
  private rest = '';
  constructor(private path: string) {}

  async refresh(): Promise<void> {
    let fh: FileHandle;
    try {
      fh = await open(this.path, 'r');
    } catch {
      return;
    }
    try {
      for (;;) {
        const buf = Buffer.alloc(CHUNK);
        const { bytesRead } = await fh.read(buf, 0, CHUNK, this.pos);
        if (!bytesRead) break;
        this.pos += bytesRead;
        const lines = (this.rest + buf.subarray(0, bytesRead).toString()).split('\n');
        this.rest = lines.pop()!;
        for (const l of lines) {
          const [size, sec, nsec] = l.split(' ').map(Number);
          if (!Number.isFinite(size) || !Number.isFinite(sec) || !Number.isFinite(nsec)) continue;
          if (this.offsets.length && size <= this.offsets[this.offsets.length - 1]) continue;
          this.offsets.push(size);
          this.times.push({ sec, nsec });
        }
      }
    } finally {
      await fh.close();
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

async function mtimeNs(path: string): Promise<NsTime> {
  const st = await stat(path, { bigint: true });
  return { sec: Number(st.mtimeNs / 1_000_000_000n), nsec: Number(st.mtimeNs % 1_000_000_000n) };
}

interface Control {
  closed: boolean;
  wake?: () => void;
}

async function* logChunks(p: ContainerPaths, opts: LogOptions, finished: () => Promise<boolean>, ctl: Control): AsyncGenerator<Buffer> {
  const idx = new SizeIndex(p.idx);
  const fh = await open(p.log, 'r');
  let watcher: ReturnType<typeof watch> | undefined;
  try {
    await idx.refresh();
    const size0 = (await fh.stat()).size;
    let pos = 0;
    if (opts.tailLines !== undefined && opts.tailLines >= 0) pos = await tailStart(fh, size0, opts.tailLines);
    const since: NsTime | undefined = opts.sinceSeconds !== undefined
      ? (() => { const ms = Date.now() - opts.sinceSeconds * 1000; return { sec: Math.floor(ms / 1000), nsec: (ms % 1000) * 1e6 }; })()
      : opts.sinceTime ? { sec: Math.floor(opts.sinceTime.getTime() / 1000), nsec: (opts.sinceTime.getTime() % 1000) * 1e6 } : undefined;
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
      return t ?? (await mtimeNs(p.log));
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
    await fh.close();
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
      gen.return(undefined).then(() => cb(err), () => cb(err));
    },
  });
}
