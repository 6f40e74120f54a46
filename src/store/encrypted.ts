// A Store in front of another that encrypts the values of the resources an EncryptionConfiguration
// names on the way in and decrypts them on the way out, so everything above sees plain objects.
import { Counter, type Registry } from 'prom-client';
import { type EncryptionConfig, type Transformer, transformersFor } from './encryption.js';
import type { KeyValue, ListOptions, ListResult, Store, WatchEvent, WatchHandlers, Watcher } from './types.js';

/** Every encrypted value starts with this; values are carried through the Store interface as latin1
 *  strings (one char per byte) so that the backends can write the exact bytes upstream writes. */
export const ENCRYPTED_PREFIX = 'k8s:enc:';

/** A stored value no configured provider can read: the read of that one object fails with this message. */
export class TransformError extends Error {
  constructor(key: string, reason: string) {
    super(`unable to transform key ${JSON.stringify(key)}: ${reason}`);
    this.name = 'TransformError';
  }
}

export interface EncryptedStoreOptions {
  /** apiserver_storage_transformation_operations_total is registered here, when given. */
  metrics?: Registry;
  /** Where a watch event that cannot be decrypted is reported (it is dropped: nothing could read it). */
  log?: (line: string) => void;
}

export class EncryptedStore implements Store {
  readonly backend: Store['backend'];
  private ops?: Counter<'transformation_type' | 'transformer_prefix' | 'status'>;
  private log: (line: string) => void;

  constructor(
    private inner: Store,
    private config: EncryptionConfig,
    opts: EncryptedStoreOptions = {},
  ) {
    this.backend = inner.backend;
    this.log = opts.log ?? ((l) => process.stderr.write(`k8ts store: ${l}\n`));
    if (opts.metrics) {
      // Upstream's series: one count per value written or read, by the provider's prefix.
      this.ops = new Counter({
        name: 'apiserver_storage_transformation_operations_total',
        help: "Total number of transformations. Successful transformation will have a status 'OK' and a varied status string when the transformation fails.",
        labelNames: ['transformation_type', 'transformer_prefix', 'status'],
        registers: [opts.metrics],
      });
    }
  }

  /** One line per resources[] entry: which provider writes and which read, for the server's log. */
  static describe(config: EncryptionConfig): string[] {
    const name = (t: Transformer) => (t.provider === 'identity' ? 'identity' : `${t.provider} key ${JSON.stringify(t.keyName)}`);
    return config.rules.map((r) => `${r.resources.join(',')}: writes with ${name(r.transformers[0])}; reads ${r.transformers.map(name).join(', ')}`);
  }

  private tally(type: 'to_storage' | 'from_storage', prefix: string, status: string): void {
    this.ops?.inc({ transformation_type: type, transformer_prefix: prefix === '' ? 'identity' : prefix, status });
  }

  /** The value as it goes to the backend. */
  private seal(key: string, value: string): string {
    const ts = transformersFor(this.config, key);
    if (!ts) return value;
    const t = ts[0];
    if (t.provider === 'identity') {
      this.tally('to_storage', '', 'OK');
      return value;
    }
    const sealed = Buffer.concat([Buffer.from(t.prefix, 'latin1'), t.encrypt(Buffer.from(value, 'utf8'))]).toString('latin1');
    this.tally('to_storage', t.prefix, 'OK');
    return sealed;
  }

  /** The plain value of a stored one; throws TransformError naming the key when no provider reads it.
   *  Order and fall-through as upstream's prefix transformers: the first provider whose prefix the value
   *  starts with decides, except that identity (no prefix) steps aside for an encrypted value. */
  private open(key: string, value: string): { value: string; stale: boolean } {
    const ts = transformersFor(this.config, key);
    if (!ts) {
      if (value.startsWith(ENCRYPTED_PREFIX))
        throw new TransformError(key, `the value is encrypted (${describePrefix(value)}) but the EncryptionConfiguration lists no provider for this resource`);
      return { value, stale: false };
    }
    for (const [i, t] of ts.entries()) {
      if (!value.startsWith(t.prefix)) continue;
      if (t.provider === 'identity') {
        if (value.startsWith(ENCRYPTED_PREFIX)) continue;
        this.tally('from_storage', '', 'OK');
        return { value, stale: i !== 0 };
      }
      try {
        const plain = t.decrypt(Buffer.from(value.slice(t.prefix.length), 'latin1')).toString('utf8');
        this.tally('from_storage', t.prefix, 'OK');
        return { value: plain, stale: i !== 0 };
      } catch (e) {
        this.tally('from_storage', t.prefix, 'Internal');
        throw new TransformError(key, `${t.provider} key ${JSON.stringify(t.keyName)}: ${(e as Error).message}`);
      }
    }
    this.tally('from_storage', 'unknown', 'Internal');
    const tried = ts.map((t) => (t.provider === 'identity' ? 'identity' : `${t.provider} key ${JSON.stringify(t.keyName)}`)).join(', ');
    const stored = value.startsWith(ENCRYPTED_PREFIX)
      ? `the value was written with ${describePrefix(value)}`
      : 'the value is not encrypted and identity is not listed';
    throw new TransformError(key, `no matching prefix found: ${stored}; the EncryptionConfiguration lists ${tried}`);
  }

  private openKv(kv: KeyValue): KeyValue {
    const { value, stale } = this.open(kv.key, kv.value);
    if (stale) return { ...kv, value, stale };
    return value === kv.value ? kv : { ...kv, value };
  }

  async get(key: string): Promise<KeyValue | undefined> {
    const kv = await this.inner.get(key);
    return kv && this.openKv(kv);
  }

  /** An item no provider can read is left out of the list (and logged), so that one bad value does not
   *  stop every list of its resource, the informers that depend on them, and the server's start; a get
   *  of it answers the error. Upstream fails the whole list here. */
  async list(prefix: string, opts?: ListOptions): Promise<ListResult> {
    const r = await this.inner.list(prefix, opts);
    const items: KeyValue[] = [];
    for (const kv of r.items) {
      try {
        items.push(this.openKv(kv));
      } catch (e) {
        this.log(`list: ${(e as Error).message}; left out of the list`);
      }
    }
    return { ...r, items };
  }

  count(prefix: string): Promise<number> {
    return this.inner.count(prefix);
  }

  async create(key: string, value: string): Promise<KeyValue> {
    const kv = await this.inner.create(key, this.seal(key, value));
    return { ...kv, value };
  }

  async update(key: string, value: string, expectedRevision: number): Promise<KeyValue> {
    const kv = await this.inner.update(key, this.seal(key, value), expectedRevision);
    return { ...kv, value };
  }

  async delete(key: string, expectedRevision?: number): Promise<{ prev: KeyValue; revision: number }> {
    const r = await this.inner.delete(key, expectedRevision);
    let prev = r.prev;
    try {
      prev = this.openKv(r.prev);
    } catch (e) {
      // The delete happened; an unreadable last state must not turn it into an error (this is how an
      // object nobody can decrypt is removed). Callers get the key with an empty object.
      this.log(`${(e as Error).message}; deleted anyway`);
      prev = { ...r.prev, value: JSON.stringify({ metadata: {} }) };
    }
    return { prev, revision: r.revision };
  }

  watch(prefix: string, fromRevision: number, handlers: WatchHandlers): Promise<Watcher> {
    return this.inner.watch(prefix, fromRevision, {
      onError: (err) => handlers.onError(err),
      onEvents: (events) => {
        const out: WatchEvent[] = [];
        for (const ev of events) {
          try {
            if (ev.type === 'put') out.push({ ...ev, kv: this.openKv(ev.kv), prev: ev.prev && this.openKv(ev.prev) });
            else out.push({ ...ev, prev: this.openKv(ev.prev) });
          } catch (e) {
            this.log(`watch: ${(e as Error).message}; the event at revision ${ev.revision} is skipped`);
          }
        }
        if (out.length) handlers.onEvents(out);
      },
    });
  }

  currentRevision(): Promise<number> {
    return this.inner.currentRevision();
  }

  compact(revision: number): Promise<void> {
    return this.inner.compact(revision);
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}

/** `aescbc key "key1"` from a stored value's prefix, for error messages (never any ciphertext). */
function describePrefix(value: string): string {
  const m = /^k8s:enc:([a-z0-9]+):v1:([\x21-\x39\x3b-\x7e]{1,64}):/.exec(value);
  return m ? `${m[1]} key ${JSON.stringify(m[2])}` : 'an unknown provider';
}
