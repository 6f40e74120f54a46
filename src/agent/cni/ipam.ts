// Host-local address allocation for pods: a cursor walks the range so freed addresses are not handed out
// again at once; reservations sit behind a small store interface (files on disk, or memory for tests).
//
// File layout under <dataDir>/<network>/ (one directory per network):
//   <ip>                    one reservation: "containerID\nifname", created with O_EXCL — the commit point
//   attachments/<cid>:<if>  symlink to <ip>: an index so DEL and a repeated ADD need not read every file
//   last_reserved_ip        the cursor
//   lock                    "pid starttime" of the holder; broken when that process is gone
// A crash at any point leaves at worst a reservation without its index entry, or an empty reservation
// file; gc() releases both, so nothing leaks that GC cannot find.
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  readdirSync,
  readlinkSync,
  rmSync,
  statSync,
  symlinkSync,
  unlinkSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { CniError, ErrorCode } from './types.js';
import { formatIp, parseIp } from './ipv4.js';
import type { IpamConf } from './config.js';

export interface Attachment {
  containerId: string;
  ifName: string;
}

export interface Reservation {
  ip: string;
  /** Empty strings when the record is torn (a crash between create and write). */
  owner: Attachment;
}

/** Where reservations live. Every method but withLock runs inside withLock. */
export interface IpamStore {
  /** Runs fn holding the store's exclusive lock (across processes for the file store). */
  withLock<T>(fn: () => T): Promise<T>;
  /** Atomically reserves ip for owner; false if it is already reserved. */
  reserve(ip: string, owner: Attachment): boolean;
  /** Frees ip (and the index entry of its owner, if that entry points at it). */
  release(ip: string): void;
  owner(ip: string): Attachment | undefined;
  /** The address the index holds for owner, if that reservation really is owner's. */
  find(owner: Attachment): string | undefined;
  list(): Reservation[];
  /** Drops index entries that point at nothing or at someone else's reservation; returns how many. */
  pruneIndex(): number;
  lastReserved(): string | undefined;
  setLastReserved(ip: string): void;
  /** Throws (with the reason) if reservations cannot be written. */
  probeWritable(): void;
}

const sameOwner = (a: Attachment, b: Attachment) => a.containerId === b.containerId && a.ifName === b.ifName;
const ownerKey = (a: Attachment) => `${a.containerId}:${a.ifName}`;

/** The allocator: range arithmetic and policy over a store. */
export class Ipam {
  constructor(
    readonly range: IpamConf,
    readonly store: IpamStore,
  ) {}

  get rangeText(): string {
    return `${formatIp(this.range.rangeStart)}-${formatIp(this.range.rangeEnd)}`;
  }

  /** Addresses the range can hand out (the gateway is never one). */
  get capacity(): number {
    const { rangeStart, rangeEnd, gateway } = this.range;
    return rangeEnd - rangeStart + 1 - (gateway >= rangeStart && gateway <= rangeEnd ? 1 : 0);
  }

  /** The owner's existing reservation, or a new one after the cursor. */
  allocate(owner: Attachment): Promise<{ ip: string; reused: boolean }> {
    return this.store.withLock(() => {
      const existing = this.store.find(owner);
      if (existing) return { ip: existing, reused: true };
      const { rangeStart, rangeEnd, gateway } = this.range;
      const size = rangeEnd - rangeStart + 1;
      const last = parseIp(this.store.lastReserved() ?? '');
      const first = last !== undefined && last >= rangeStart && last <= rangeEnd ? last + 1 : rangeStart;
      for (let i = 0; i < size; i++) {
        const n = rangeStart + ((first - rangeStart + i) % size);
        if (n === gateway) continue;
        const ip = formatIp(n);
        if (this.store.reserve(ip, owner)) {
          this.store.setLastReserved(ip);
          return { ip, reused: false };
        }
      }
      throw new CniError(
        ErrorCode.RangeExhausted,
        `no free IP address in range ${this.rangeText}`,
        `all ${this.capacity} addresses of ${this.rangeText} (subnet ${formatIp(this.range.subnet.network)}/${this.range.subnet.prefix}) are reserved`,
      );
    });
  }

  /**
   * Releases the owner's reservation. `hint` (an address from the ADD result) is used when the index
   * has no entry; it is released only if it really is the owner's.
   */
  release(owner: Attachment, hint?: string): Promise<string | undefined> {
    return this.store.withLock(() => {
      const ip = this.held(owner, hint);
      if (ip) this.store.release(ip);
      return ip;
    });
  }

  /**
   * The owner's reservation (by index, else `hint` if it is the owner's), changing nothing. It reads
   * without the lock: a reservation file is whole before the index points at it, and the runtime never
   * runs two operations for one attachment at once.
   */
  lookup(owner: Attachment, hint?: string): string | undefined {
    return this.held(owner, hint);
  }

  private held(owner: Attachment, hint?: string): string | undefined {
    const ip = this.store.find(owner);
    if (ip || !hint || parseIp(hint) === undefined) return ip;
    const o = this.store.owner(hint);
    return o && sameOwner(o, owner) ? hint : undefined;
  }

  /**
   * Releases every reservation whose attachment is not in `valid`, plus leftovers of crashes (torn
   * records, reservations their owner's index does not point at). Returns the released addresses.
   */
  gc(valid: Attachment[]): Promise<string[]> {
    const keep = new Set(valid.map(ownerKey));
    return this.store.withLock(() => {
      const released: string[] = [];
      for (const r of this.store.list()) {
        const live = r.owner.containerId !== '' && keep.has(ownerKey(r.owner)) && this.store.find(r.owner) === r.ip;
        if (!live) {
          this.store.release(r.ip);
          released.push(r.ip);
        }
      }
      this.store.pruneIndex();
      return released;
    });
  }

  usage(): Promise<{ used: number; capacity: number }> {
    return this.store.withLock(() => {
      const { rangeStart, rangeEnd, gateway } = this.range;
      const used = this.store.list().filter((r) => {
        const n = parseIp(r.ip);
        return n !== undefined && n >= rangeStart && n <= rangeEnd && n !== gateway;
      }).length;
      return { used, capacity: this.capacity };
    });
  }

  /** Throws code 50 if an ADD could not get an address now. */
  async status(): Promise<void> {
    try {
      this.store.probeWritable();
    } catch (e) {
      throw new CniError(ErrorCode.NotAvailable, 'IPAM data directory is not writable', (e as Error).message);
    }
    const { used, capacity } = await this.usage();
    if (used >= capacity) {
      throw new CniError(ErrorCode.NotAvailable, `no free IP address in range ${this.rangeText}`, `${used} of ${capacity} addresses are reserved`);
    }
  }
}

/** Reservations in memory, for unit tests of the allocator. */
export class MemoryStore implements IpamStore {
  readonly reservations = new Map<string, Attachment>();
  readonly index = new Map<string, string>();
  cursor?: string;
  writable = true;

  async withLock<T>(fn: () => T): Promise<T> {
    return fn();
  }

  reserve(ip: string, owner: Attachment): boolean {
    if (this.reservations.has(ip)) return false;
    this.reservations.set(ip, { ...owner });
    this.index.set(ownerKey(owner), ip);
    return true;
  }

  release(ip: string): void {
    const o = this.reservations.get(ip);
    this.reservations.delete(ip);
    if (o && this.index.get(ownerKey(o)) === ip) this.index.delete(ownerKey(o));
  }

  owner(ip: string): Attachment | undefined {
    return this.reservations.get(ip);
  }

  find(owner: Attachment): string | undefined {
    const ip = this.index.get(ownerKey(owner));
    const o = ip === undefined ? undefined : this.reservations.get(ip);
    return ip !== undefined && o && sameOwner(o, owner) ? ip : undefined;
  }

  list(): Reservation[] {
    return [...this.reservations].map(([ip, owner]) => ({ ip, owner }));
  }

  pruneIndex(): number {
    let n = 0;
    for (const [key, ip] of this.index) {
      const o = this.reservations.get(ip);
      if (!o || ownerKey(o) !== key) {
        this.index.delete(key);
        n++;
      }
    }
    return n;
  }

  lastReserved(): string | undefined {
    return this.cursor;
  }

  setLastReserved(ip: string): void {
    this.cursor = ip;
  }

  probeWritable(): void {
    if (!this.writable) throw new Error('memory store marked not writable');
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Reservations as files, shared by every process on the node that uses the same directory. */
export class FileStore implements IpamStore {
  readonly dir: string;
  private readonly indexDir: string;
  private readonly lockPath: string;

  constructor(
    dataDir: string,
    network: string,
    private readonly lockTimeoutMs = 10_000,
  ) {
    this.dir = join(dataDir, network);
    this.indexDir = join(this.dir, 'attachments');
    this.lockPath = join(this.dir, 'lock');
  }

  async withLock<T>(fn: () => T): Promise<T> {
    const deadline = Date.now() + this.lockTimeoutMs;
    let wait = 1;
    while (!this.tryLock()) {
      if (Date.now() > deadline) {
        throw new CniError(
          ErrorCode.TryAgainLater,
          `IPAM lock ${this.lockPath} is busy`,
          `held by ${this.readLock() ?? 'unknown'} for more than ${this.lockTimeoutMs} ms`,
        );
      }
      await sleep(wait);
      wait = Math.min(wait * 2, 20);
    }
    // fn is synchronous, so nothing else in this process runs between taking and dropping the lock.
    try {
      return fn();
    } finally {
      rmSync(this.lockPath, { force: true });
    }
  }

  private ensureDirs(): void {
    mkdirSync(this.indexDir, { recursive: true });
  }

  private tryLock(): boolean {
    try {
      let fd: number;
      try {
        fd = openSync(this.lockPath, 'wx');
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
        this.ensureDirs(); // first use of this data dir
        fd = openSync(this.lockPath, 'wx');
      }
      try {
        writeSync(fd, `${process.pid} ${ownStartTime()}\n`);
      } finally {
        closeSync(fd);
      }
      return true;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw ioError(`cannot create IPAM lock ${this.lockPath}`, e);
    }
    const holder = this.readLock();
    if (holder === undefined) return false; // released meanwhile: try again
    if (!holderGone(holder, this.lockPath)) return false;
    this.breakStaleLock(holder);
    return false;
  }

  private readLock(): string | undefined {
    try {
      return readFileSync(this.lockPath, 'utf8').trim();
    } catch {
      return undefined;
    }
  }

  /**
   * Removes a lock whose holder died. Breakers serialize on a second exclusive file so that one cannot
   * remove a lock another breaker has just re-taken; a breaker that dies leaves that file, which is
   * removed once it is older than a second.
   */
  private breakStaleLock(seen: string | undefined): void {
    const breaker = `${this.lockPath}.break`;
    let fd: number;
    try {
      fd = openSync(breaker, 'wx');
    } catch {
      try {
        if (Date.now() - statSync(breaker).mtimeMs > 1000) rmSync(breaker, { force: true });
      } catch {
        /* gone meanwhile */
      }
      return;
    }
    try {
      if (this.readLock() === seen) rmSync(this.lockPath, { force: true });
    } finally {
      closeSync(fd);
      rmSync(breaker, { force: true });
    }
  }

  reserve(ip: string, owner: Attachment): boolean {
    let fd: number;
    try {
      fd = openSync(join(this.dir, ip), 'wx');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
      throw ioError(`cannot reserve ${ip} in ${this.dir}`, e);
    }
    try {
      writeSync(fd, `${owner.containerId}\n${owner.ifName}`);
    } finally {
      closeSync(fd);
    }
    const link = join(this.indexDir, ownerKey(owner));
    try {
      symlinkSync(ip, link);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'EEXIST')
        rmSync(link, { force: true }); // stale: find() has shown it points nowhere valid
      else if (code === 'ENOENT') this.ensureDirs();
      else throw e;
      symlinkSync(ip, link);
    }
    return true;
  }

  release(ip: string): void {
    const o = this.owner(ip);
    rmSync(join(this.dir, ip), { force: true });
    if (o?.containerId && this.indexTarget(ownerKey(o)) === ip) rmSync(join(this.indexDir, ownerKey(o)), { force: true });
  }

  owner(ip: string): Attachment | undefined {
    let text: string;
    try {
      text = readFileSync(join(this.dir, ip), 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw e;
    }
    const [containerId = '', ifName = ''] = text.split('\n');
    return { containerId: containerId.trim(), ifName: ifName.trim() };
  }

  private indexTarget(key: string): string | undefined {
    try {
      return readlinkSync(join(this.indexDir, key));
    } catch {
      return undefined;
    }
  }

  find(owner: Attachment): string | undefined {
    const ip = this.indexTarget(ownerKey(owner));
    if (!ip) return undefined;
    const o = this.owner(ip);
    return o && sameOwner(o, owner) ? ip : undefined;
  }

  list(): Reservation[] {
    const out: Reservation[] = [];
    for (const name of readdirSync(this.dir)) {
      if (parseIp(name) === undefined) continue;
      const owner = this.owner(name);
      if (owner) out.push({ ip: name, owner });
    }
    return out;
  }

  pruneIndex(): number {
    let n = 0;
    const keys = existsSync(this.indexDir) ? readdirSync(this.indexDir) : [];
    for (const key of keys) {
      const ip = this.indexTarget(key);
      const o = ip ? this.owner(ip) : undefined;
      if (!o || ownerKey(o) !== key) {
        rmSync(join(this.indexDir, key), { force: true });
        n++;
      }
    }
    return n;
  }

  lastReserved(): string | undefined {
    try {
      return readFileSync(join(this.dir, 'last_reserved_ip'), 'utf8').trim();
    } catch {
      return undefined;
    }
  }

  setLastReserved(ip: string): void {
    writeFileSync(join(this.dir, 'last_reserved_ip'), ip);
  }

  probeWritable(): void {
    this.ensureDirs();
    const probe = join(this.dir, `.probe-${process.pid}`);
    writeFileSync(probe, '');
    unlinkSync(probe);
  }
}

function ioError(what: string, e: unknown): CniError {
  return new CniError(ErrorCode.IoFailure, what, (e as Error).message);
}

/** Start time of a process in clock ticks since boot (field 22 of /proc/PID/stat), to tell pid reuse apart. */
function startTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

let ownStart: string | undefined;
function ownStartTime(): string {
  return (ownStart ??= startTime(process.pid) ?? '0');
}

/**
 * Whether the process named in a lock file is gone. An empty or garbled lock is only taken for dead once
 * it is a second old: its holder may be between creating the file and writing its pid.
 */
function holderGone(holder: string, lockPath: string): boolean {
  const [pidText, start] = holder.split(/\s+/);
  const pid = Number(pidText);
  if (!Number.isInteger(pid) || pid <= 0) {
    try {
      return Date.now() - statSync(lockPath).mtimeMs > 1000;
    } catch {
      return false;
    }
  }
  const now = startTime(pid);
  return now === undefined || (start !== undefined && start !== '0' && now !== start);
}

/** The allocator for a validated configuration, over files in its data directory. */
export function fileIpam(conf: IpamConf, network: string): Ipam {
  return new Ipam(conf, new FileStore(conf.dataDir, network));
}
