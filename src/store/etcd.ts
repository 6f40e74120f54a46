// etcd Store for clusters with more than one server: the Store contract mapped onto etcd v3 range,
// txn, compact and watch through one long-lived etcd3 client, keys kept under a configurable prefix.
import { createRequire } from 'node:module';
import {
  CompareResult,
  CompareTarget,
  Etcd3,
  type ICompare,
  type IDuplexStream,
  type IKeyValue,
  type IOptions,
  type IRequestOp,
  type ITxnResponse,
  type IWatchRequest,
  type IWatchResponse,
  type KVClient,
} from 'etcd3';
import { EventQueue } from './event-queue.js';
import { compareKeys } from './keys.js';
import { closedError, compactedError, conflictError, existsError, futureError, notFoundError } from './errors.js';
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

type Policy = NonNullable<NonNullable<IOptions['faultHandling']>['global']>;

// The etcd3 client retries failed calls by default; a retried txn whose first attempt did commit would
// report KeyExists or Conflict for the caller's own write, so calls pass straight through instead
// (reads are retried here, writes never). The pass-through policy comes from the same cockatiel
// the client itself loads.
const cockatiel = createRequire(createRequire(import.meta.url).resolve('etcd3'))('cockatiel') as { noop: Policy };

export class EtcdStore implements Store {
  readonly backend = 'etcd' as const;
  private readonly client: Etcd3;
  private readonly kv: KVClient;
  private readonly prefix: string;
  private readonly where: string;
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
    this.where = `etcd at ${opts.endpoints.join(',')}`;
    const timeout = opts.requestTimeoutMs ?? 10_000;
    this.client = new Etcd3({
      hosts: opts.endpoints,
      faultHandling: { global: cockatiel.noop, host: () => cockatiel.noop },
      // A full list (10,000 objects of a few KB) is far above gRPC's default 4 MB message limit.
      grpcOptions: { 'grpc.max_receive_message_length': -1 },
      defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + timeout }),
    });
    this.kv = this.client.kv;
  }

  async get(key: string): Promise<KeyValue | undefined> {
    const res = await this.read(() => this.kv.range({ key: this.full(key) }));
    return res.kvs.length > 0 ? this.toKeyValue(res.kvs[0]) : undefined;
  }

  async list(prefix: string, opts: ListOptions = {}): Promise<ListResult> {
    const at = opts.revision && opts.revision > 0 ? opts.revision : undefined;
    const start = opts.after !== undefined && compareKeys(opts.after, prefix) >= 0 ? Buffer.concat([this.full(opts.after), ZERO]) : this.full(prefix);
    const limit = opts.limit && opts.limit > 0 ? opts.limit : 0;
    const res = await this.read(() => this.kv.range({ key: start, range_end: rangeEnd(this.full(prefix)), revision: at ?? 0, limit }), at);
    const items = res.kvs.map((kv) => this.toKeyValue(kv));
    return {
      items,
      revision: at ?? Number(res.header.revision),
      more: res.more,
      remaining: Number(res.count) - items.length,
    };
  }

  async count(prefix: string): Promise<number> {
    const key = this.full(prefix);
    const res = await this.read(() => this.kv.range({ key, range_end: rangeEnd(key), count_only: true }));
    return Number(res.count);
  }

  async create(key: string, value: string): Promise<KeyValue> {
    const k = this.full(key);
    const res = await this.txn([{ key: k, target: CompareTarget.Create, result: CompareResult.Equal, create_revision: 0 }], {
      request_put: { key: k, value: valueBytes(value) },
    });
    if (!res.succeeded) throw existsError(key);
    const revision = Number(res.header.revision);
    return { key, value, createRevision: revision, modRevision: revision };
  }

  async update(key: string, value: string, expectedRevision: number): Promise<KeyValue> {
    const k = this.full(key);
    const res = await this.txn(guard(k, expectedRevision), {
      request_put: { key: k, value: valueBytes(value), prev_kv: true },
    });
    if (!res.succeeded) throw this.failedGuard(key, expectedRevision, res);
    const prev = res.responses[0].response_put.prev_kv;
    return { key, value, createRevision: Number(prev.create_revision), modRevision: Number(res.header.revision) };
  }

  async delete(key: string, expectedRevision?: number): Promise<{ prev: KeyValue; revision: number }> {
    const k = this.full(key);
    const res = await this.txn(guard(k, expectedRevision), { request_delete_range: { key: k, prev_kv: true } });
    if (!res.succeeded) throw this.failedGuard(key, expectedRevision, res);
    const prev = res.responses[0].response_delete_range.prev_kvs[0];
    return { prev: this.toKeyValue(prev), revision: Number(res.header.revision) };
  }

  async watch(prefix: string, fromRevision: number, handlers: WatchHandlers): Promise<Watcher> {
    this.assertOpen();
    const key = this.full(prefix);
    // etcd accepts a watch from a compacted revision and cancels it right after; a read at that
    // revision fails the same way up front, so the caller gets its rejection from watch() itself.
    try {
      await this.kv.range({ key, range_end: rangeEnd(key), revision: Math.max(fromRevision, 1), count_only: true });
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
    const res = await this.read(() => this.kv.range({ key: this.full(''), count_only: true }));
    return Number(res.header.revision);
  }

  /** Compaction in etcd is cluster-wide: it drops history of every key, not only this prefix. */
  async compact(revision: number): Promise<void> {
    this.assertOpen();
    try {
      await this.kv.compact({ revision, physical: true });
    } catch (err) {
      const mapped = this.mapError(err, revision);
      if (mapped.code !== 'Compacted') throw mapped;
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const w of [...this.watches]) w.close();
    this.client.close();
  }

  /** @internal The raw watch stream for EtcdWatch. */
  openWatchStream(): Promise<IDuplexStream<IWatchRequest, IWatchResponse>> {
    this.assertOpen();
    return this.client.watchClient.watch();
  }

  /** @internal */
  toEvent(e: IWatchResponse['events'][number]): WatchEvent | 'no-prev' {
    const key = this.unprefix(e.kv.key);
    const revision = Number(e.kv.mod_revision);
    const prev = e.prev_kv ? this.toKeyValue(e.prev_kv) : undefined;
    if (e.type === 'Delete') {
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
    return key.toString().slice(this.prefix.length);
  }

  private toKeyValue(kv: IKeyValue): KeyValue {
    return {
      key: this.unprefix(kv.key),
      value: valueString(kv.value),
      createRevision: Number(kv.create_revision),
      modRevision: Number(kv.mod_revision),
    };
  }

  /** Reads are safe to repeat, so a connection blip (etcd restarting, leader change) is retried. */
  private async read<T>(call: () => Promise<T>, revision?: number): Promise<T> {
    this.assertOpen();
    for (let attempt = 1; ; attempt++) {
      try {
        return await call();
      } catch (err) {
        const mapped = this.mapError(err);
        if (mapped.code !== 'Unavailable' || attempt >= 3 || this.closed) {
          throw this.mapError(err, revision);
        }
        await delay(100 * attempt);
      }
    }
  }

  private async txn(compare: ICompare[], success: IRequestOp): Promise<ITxnResponse> {
    this.assertOpen();
    const key = success.request_put?.key ?? success.request_delete_range?.key;
    try {
      return await this.kv.txn({ compare, success: [success], failure: [{ request_range: { key } }] });
    } catch (err) {
      throw this.mapError(err);
    }
  }

  /** Why a guarded update or delete did not apply: the failure branch read the key. */
  private failedGuard(key: string, expected: number | undefined, res: ITxnResponse): StoreError {
    const kvs = res.responses[0]?.response_range?.kvs ?? [];
    if (kvs.length === 0) return notFoundError(key);
    return conflictError(key, expected ?? 0, Number(kvs[0].mod_revision));
  }
}

/** One watch on one gRPC stream of its own; reconnects resume after the last delivered revision. */
class EtcdWatch implements Watcher {
  private readonly queue: EventQueue;
  private stream: IDuplexStream<IWatchRequest, IWatchResponse> | undefined;
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
      void this.connect();
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

  private async connect(): Promise<void> {
    if (this.closed) return;
    let stream: IDuplexStream<IWatchRequest, IWatchResponse>;
    try {
      stream = await this.store.openWatchStream();
    } catch (err) {
      this.lost(err);
      return;
    }
    if (this.closed) {
      stream.cancel();
      return;
    }
    this.stream = stream;
    let ended = false;
    const end = (err: unknown) => {
      if (ended) return;
      ended = true;
      if (this.stream === stream) this.stream = undefined;
      stream.cancel();
      this.lost(err);
    };
    stream.on('data', (res) => this.onResponse(res));
    stream.on('error', (err) => end(err));
    stream.on('end', () => end(new Error('watch stream ended')));
    stream.write({
      create_request: {
        key: this.key,
        range_end: rangeEnd(this.key),
        start_revision: this.delivered + 1,
        prev_kv: true,
      },
    });
  }

  private onResponse(res: IWatchResponse): void {
    if (this.closed) return;
    if (res.canceled) {
      const compactRev = Number(res.compact_revision);
      const err =
        compactRev > 0
          ? compactedError(this.delivered, compactRev)
          : new StoreError('Unavailable', `etcd cancelled the watch: ${res.cancel_reason || 'no reason given'}`);
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
    setTimeout(() => void this.connect(), Math.min(1000, 50 + (now - this.lostSince) / 4));
  }

  private fail(err: StoreError): void {
    if (this.closed) return;
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

function valueBytes(value: string): Buffer {
  return Buffer.from(value, value.startsWith('k8s:enc:') ? 'latin1' : 'utf8');
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
function guard(key: Buffer, expected: number | undefined): ICompare[] {
  const exists: ICompare = { key, target: CompareTarget.Version, result: CompareResult.Greater, version: 0 };
  if (expected === undefined) return [exists];
  return [exists, { key, target: CompareTarget.Mod, result: CompareResult.Equal, mod_revision: expected }];
}

function isFutureRevision(err: unknown): boolean {
  return err instanceof Error && err.message.includes('required revision is a future revision');
}

function delay(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
