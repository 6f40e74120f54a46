// etcd Store for clusters with more than one server: the Store contract mapped onto etcd v3 range,
// txn, compact and watch, over one HTTP/2 connection (grpc.ts) with the messages encoded here
// (etcdproto.ts), keys kept under a configurable prefix.
import { EventQueue } from './event-queue.js';
import { compareKeys } from './keys.js';
import { closedError, compactedError, conflictError, existsError, futureError, notFoundError } from './errors.js';
import {
  type Compare,
  CompareResult,
  CompareTarget,
  decodeRange,
  decodeTxn,
  decodeWatch,
  encodeCompaction,
  encodeRange,
  encodeTxn,
  encodeWatchCreate,
  type EtcdKv,
  type PutValue,
  type RangeRequest,
  type RangeResponse,
  type RequestOp,
  type TxnResponse,
  type WatchEventPb,
  type WatchResponse,
} from './etcdproto.js';
import { GrpcChannel, type GrpcError, type GrpcStream } from './grpc.js';
import { StoreError, type KeyValue, type ListOptions, type ListResult, type Store, type WatchEvent, type WatchHandlers, type Watcher } from './types.js';

export interface EtcdStoreOptions {
  endpoints: string[];
  /** Every key is stored as prefix + key (default "/k8ts"). */
  prefix?: string;
  /** Deadline of each unary call (default 10 s). */
  requestTimeoutMs?: number;
  /** How long a watch keeps reconnecting before it reports the backend lost (default 10 s). */
  watchRetryMs?: number;
}

// Writes are never retried: a txn whose first attempt did commit would, sent again, report KeyExists or
// Conflict for the caller's own write. Reads are safe to repeat and are retried over a reconnect.

const KV_RANGE = '/etcdserverpb.KV/Range';
const KV_TXN = '/etcdserverpb.KV/Txn';
const KV_COMPACT = '/etcdserverpb.KV/Compact';
const WATCH = '/etcdserverpb.Watch/Watch';

export class EtcdStore implements Store {
  readonly backend = 'etcd' as const;
  private readonly channel: GrpcChannel;
  private readonly prefix: string;
  private readonly prefixBytes: number;
  private readonly where: string;
  private readonly timeout: number;
  private closed = false;
  private readonly watches = new Set<EtcdWatch>();

  /** Connects and checks that etcd answers; fails with 'Unavailable' when it does not. */
  static async open(opts: EtcdStoreOptions): Promise<EtcdStore> {
    const store = new EtcdStore(opts);
    try {
      await store.currentRevision();
    } catch (err) {
      await store.close();
      throw err;
    }
    return store;
  }

  private constructor(private readonly opts: EtcdStoreOptions) {
    if (opts.endpoints.length === 0) throw new Error('etcd store needs at least one endpoint');
    this.prefix = opts.prefix ?? '/k8ts';
    this.prefixBytes = Buffer.byteLength(this.prefix);
    this.where = `etcd at ${opts.endpoints.join(',')}`;
    this.timeout = opts.requestTimeoutMs ?? 10_000;
    this.channel = new GrpcChannel(opts.endpoints.map((e) => parseEndpoint(e)));
  }

  async get(key: string): Promise<KeyValue | undefined> {
    const res = await this.read({ key: this.full(key) });
    return res.kvs.length > 0 ? this.toKeyValue(res.kvs[0]) : undefined;
  }

  async list(prefix: string, opts: ListOptions = {}): Promise<ListResult> {
    const at = opts.revision && opts.revision > 0 ? opts.revision : undefined;
    const start = opts.after !== undefined && compareKeys(opts.after, prefix) >= 0 ? Buffer.concat([this.full(opts.after), ZERO]) : this.full(prefix);
    const limit = opts.limit && opts.limit > 0 ? opts.limit : 0;
    const res = await this.read({ key: start, rangeEnd: rangeEnd(this.full(prefix)), revision: at ?? 0, limit }, at);
    const items = res.kvs.map((kv) => this.toKeyValue(kv));
    return {
      items,
      revision: at ?? res.revision,
      more: res.more,
      remaining: res.count - items.length,
    };
  }

  async count(prefix: string): Promise<number> {
    const key = this.full(prefix);
    const res = await this.read({ key, rangeEnd: rangeEnd(key), countOnly: true });
    return res.count;
  }

  async create(key: string, value: string): Promise<KeyValue> {
    const k = this.full(key);
    const res = await this.txn(k, [{ key: k, target: CompareTarget.Create, result: CompareResult.Equal, than: 0 }], {
      put: { key: k, value: putValue(value) },
    });
    if (!res.succeeded) throw existsError(key);
    return { key, value, createRevision: res.revision, modRevision: res.revision };
  }

  async update(key: string, value: string, expectedRevision: number): Promise<KeyValue> {
    const k = this.full(key);
    const res = await this.txn(k, guard(k, expectedRevision), { put: { key: k, value: putValue(value), prevKv: true } });
    if (!res.succeeded) throw this.failedGuard(key, expectedRevision, res);
    const prev = res.responses[0]?.put?.prevKv;
    if (!prev) throw new StoreError('Unavailable', `${this.where}: the update of ${key} came back without the previous key`);
    return { key, value, createRevision: prev.createRevision, modRevision: res.revision };
  }

  async delete(key: string, expectedRevision?: number): Promise<{ prev: KeyValue; revision: number }> {
    const k = this.full(key);
    const res = await this.txn(k, guard(k, expectedRevision), { deleteRange: { key: k, prevKv: true } });
    if (!res.succeeded) throw this.failedGuard(key, expectedRevision, res);
    const prev = res.responses[0]?.deleteRange?.prevKvs[0];
    if (!prev) throw new StoreError('Unavailable', `${this.where}: the delete of ${key} came back without the previous key`);
    return { prev: this.toKeyValue(prev), revision: res.revision };
  }

  async watch(prefix: string, fromRevision: number, handlers: WatchHandlers): Promise<Watcher> {
    this.assertOpen();
    const key = this.full(prefix);
    // etcd accepts a watch from a compacted revision and cancels it right after; a read at that
    // revision fails the same way up front, so the caller gets its rejection from watch() itself.
    try {
      await this.call(KV_RANGE, encodeRange({ key, rangeEnd: rangeEnd(key), revision: Math.max(fromRevision, 1), countOnly: true }));
    } catch (err) {
      if (!isFutureRevision(err)) throw this.mapError(err, fromRevision);
    }
    const w = new EtcdWatch(this, key, fromRevision, handlers, this.opts.watchRetryMs ?? 10_000, () => this.watches.delete(w));
    this.watches.add(w);
    try {
      await w.start();
    } catch (err) {
      w.close();
      throw err;
    }
    return w;
  }

  async currentRevision(): Promise<number> {
    const res = await this.read({ key: this.full(''), countOnly: true });
    return res.revision;
  }

  /** Compaction in etcd is cluster-wide: it drops history of every key, not only this prefix. */
  async compact(revision: number): Promise<void> {
    this.assertOpen();
    try {
      await this.call(KV_COMPACT, encodeCompaction(revision, true));
    } catch (err) {
      const mapped = this.mapError(err, revision);
      if (mapped.code !== 'Compacted') throw mapped;
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const w of [...this.watches]) w.close();
    this.channel.close();
  }

  /** @internal A watch stream for EtcdWatch. */
  openWatchStream(handlers: { onMessage(m: Buffer): void; onClose(err: GrpcError): void }): GrpcStream {
    this.assertOpen();
    return this.channel.stream(WATCH, handlers);
  }

  /** @internal */
  toEvent(e: WatchEventPb): WatchEvent | 'no-prev' {
    const key = this.unprefix(e.kv.key);
    const revision = e.kv.modRevision;
    const prev = e.prevKv ? this.toKeyValue(e.prevKv) : undefined;
    if (e.type === 'delete') {
      // etcd finds prev_kv by reading the revision before the event; compaction can take it away.
      return prev ? { type: 'delete', key, revision, prev } : 'no-prev';
    }
    const kv = this.toKeyValue(e.kv);
    return prev ? { type: 'put', key, revision, kv, prev } : { type: 'put', key, revision, kv };
  }

  /** @internal */
  mapError(err: unknown, revision?: number): StoreError {
    if (err instanceof StoreError) return err;
    const message = err instanceof Error ? err.message : String(err);
    if (message.includes('required revision has been compacted') && revision !== undefined) {
      return compactedError(revision);
    }
    if (isFutureRevision(err) && revision !== undefined) return futureError(revision);
    return new StoreError('Unavailable', `${this.where}: ${message}`);
  }

  private assertOpen(): void {
    if (this.closed) throw closedError('etcd');
  }

  private full(key: string): Buffer {
    return Buffer.from(this.prefix + key);
  }

  private unprefix(key: Buffer): string {
    return key.toString('utf8', this.prefixBytes);
  }

  private toKeyValue(kv: EtcdKv): KeyValue {
    return {
      key: this.unprefix(kv.key),
      value: valueString(kv.value),
      createRevision: kv.createRevision,
      modRevision: kv.modRevision,
    };
  }

  private call(path: string, framed: Buffer): Promise<Buffer> {
    return this.channel.unary(path, framed, this.timeout);
  }

  /** Reads are safe to repeat, so a connection blip (etcd restarting, leader change) is retried. */
  private async read(req: RangeRequest, revision?: number): Promise<RangeResponse> {
    this.assertOpen();
    const framed = encodeRange(req);
    for (let attempt = 1; ; attempt++) {
      try {
        return decodeRange(await this.call(KV_RANGE, framed));
      } catch (err) {
        const mapped = this.mapError(err);
        if (mapped.code !== 'Unavailable' || attempt >= 3 || this.closed) {
          throw this.mapError(err, revision);
        }
        await delay(100 * attempt);
      }
    }
  }

  /** One guarded write of key; when the guard fails, the failure branch reads the key, to tell why. */
  private async txn(key: Buffer, compare: Compare[], success: RequestOp): Promise<TxnResponse> {
    this.assertOpen();
    try {
      return decodeTxn(await this.call(KV_TXN, encodeTxn({ compare, success: [success], failure: [{ range: { key } }] })));
    } catch (err) {
      throw this.mapError(err);
    }
  }

  /** Why a guarded update or delete did not apply: the failure branch read the key. */
  private failedGuard(key: string, expected: number | undefined, res: TxnResponse): StoreError {
    const kvs = res.responses[0]?.range?.kvs ?? [];
    if (kvs.length === 0) return notFoundError(key);
    return conflictError(key, expected ?? 0, kvs[0].modRevision);
  }
}

/** One watch on one gRPC stream of its own; reconnects resume after the last delivered revision. */
class EtcdWatch implements Watcher {
  private readonly queue: EventQueue;
  private stream: GrpcStream | undefined;
  /** Events up to this revision have been delivered; a new stream starts right after it. */
  private delivered: number;
  private closed = false;
  private lostSince = 0;
  private started = false;
  private onStarted: ((err?: Error) => void) | undefined;

  constructor(
    private readonly store: EtcdStore,
    private readonly key: Buffer,
    fromRevision: number,
    handlers: WatchHandlers,
    private readonly retryMs: number,
    onEnd: () => void,
  ) {
    this.delivered = fromRevision;
    this.queue = new EventQueue(handlers, () => {
      this.closed = true;
      this.stream?.cancel();
      onEnd();
    });
  }

  /** Resolves once etcd has registered the watch. */
  start(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.onStarted = (err) => (err ? reject(err) : resolve());
      this.connect();
    });
  }

  close(): void {
    this.queue.close();
  }

  private settleStart(err?: Error): void {
    const cb = this.onStarted;
    this.onStarted = undefined;
    cb?.(err);
  }

  private connect(): void {
    if (this.closed) return;
    let stream: GrpcStream | undefined;
    try {
      stream = this.store.openWatchStream({
        onMessage: (m) => {
          let res: WatchResponse;
          try {
            res = decodeWatch(m);
          } catch (err) {
            stream?.cancel();
            if (this.stream === stream) this.stream = undefined;
            this.lost(err);
            return;
          }
          this.onResponse(res);
        },
        onClose: (err) => {
          if (this.stream === stream) this.stream = undefined;
          this.lost(err);
        },
      });
    } catch (err) {
      this.lost(err);
      return;
    }
    this.stream = stream;
    stream.write(encodeWatchCreate({ key: this.key, rangeEnd: rangeEnd(this.key), startRevision: this.delivered + 1, prevKv: true }));
  }

  private onResponse(res: WatchResponse): void {
    if (this.closed) return;
    if (res.canceled) {
      const err =
        res.compactRevision > 0
          ? compactedError(this.delivered, res.compactRevision)
          : new StoreError('Unavailable', `etcd cancelled the watch: ${res.cancelReason || 'no reason given'}`);
      this.fail(err);
      return;
    }
    if (res.created) {
      this.lostSince = 0;
      this.started = true;
      this.settleStart();
      return;
    }
    const events: WatchEvent[] = [];
    for (const e of res.events) {
      const ev = this.store.toEvent(e);
      if (ev === 'no-prev') {
        this.fail(compactedError(this.delivered));
        return;
      }
      // Exactly once, whatever a reconnect or a late response of an old stream brings.
      if (ev.revision <= this.delivered) continue;
      events.push(ev);
    }
    if (events.length === 0) return;
    this.delivered = events[events.length - 1].revision;
    this.queue.push(events);
  }

  private lost(err: unknown): void {
    if (this.closed) return;
    const mapped = this.store.mapError(err);
    if (!this.started) {
      this.fail(mapped);
      return;
    }
    const now = Date.now();
    if (this.lostSince === 0) this.lostSince = now;
    if (now - this.lostSince > this.retryMs) {
      this.fail(new StoreError('Unavailable', `watch lost for ${this.retryMs} ms: ${mapped.message}`));
      return;
    }
    setTimeout(() => this.connect(), Math.min(1000, 50 + (now - this.lostSince) / 4));
  }

  private fail(err: StoreError): void {
    if (this.closed) return;
    this.stream?.cancel();
    this.stream = undefined;
    if (!this.started) {
      this.settleStart(err);
      return;
    }
    this.queue.fail(err);
  }
}

/** Encrypted values (see encrypted.ts) travel as latin1 strings and are stored as the raw bytes upstream
 *  writes (`k8s:enc:aescbc:v1:key1:` then ciphertext); every other value is UTF-8 JSON. JSON never starts
 *  with `k8s:`, so the prefix tells the two apart on the way back. */
const ENC = Buffer.from('k8s:enc:');

function putValue(value: string): PutValue {
  return { text: value, encoding: value.startsWith('k8s:enc:') ? 'latin1' : 'utf8' };
}

function valueString(b: Buffer): string {
  return b.subarray(0, ENC.length).equals(ENC) ? b.toString('latin1') : b.toString();
}

const ZERO = Buffer.from([0]);

/** End of the byte range holding every key that starts with key (etcd's prefix range). */
function rangeEnd(key: Buffer): Buffer {
  const end = Buffer.from(key);
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i] < 0xff) {
      end[i]++;
      return end.subarray(0, i + 1);
    }
  }
  return ZERO; // no upper bound: "every key from here on" in etcd's encoding
}

/** Guard of an update or delete: the key exists and, when asked, is at the expected revision. */
function guard(key: Buffer, expected: number | undefined): Compare[] {
  const exists: Compare = { key, target: CompareTarget.Version, result: CompareResult.Greater, than: 0 };
  if (expected === undefined) return [exists];
  return [exists, { key, target: CompareTarget.Mod, result: CompareResult.Equal, than: expected }];
}

function isFutureRevision(err: unknown): boolean {
  return err instanceof Error && err.message.includes('required revision is a future revision');
}

function delay(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** An endpoint as the flags give it: http://host:port, or host:port. */
function parseEndpoint(e: string): URL {
  let url: URL;
  try {
    url = new URL(/^[a-z]+:\/\//i.test(e) ? e : `http://${e}`);
  } catch {
    throw new Error(`etcd endpoint ${JSON.stringify(e)} is not a URL: give it as http://host:port`);
  }
  if (url.protocol !== 'http:') throw new Error(`etcd endpoint ${e}: only http:// is supported (the store speaks cleartext HTTP/2)`);
  if (url.pathname !== '/' || url.search || url.hash || url.username)
    throw new Error(`etcd endpoint ${e}: give it as http://host:port, with nothing after the port`);
  return url;
}
