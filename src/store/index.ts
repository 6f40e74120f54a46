// Entry point of the datastore: opens the configured backend behind the one Store interface.
import { MemoryStore } from './memory.js';
import { SqliteStore } from './sqlite.js';
import type { Store } from './types.js';

export * from './types.js';
export { MemoryStore } from './memory.js';
export { SqliteStore, SQLITE_FILE, type SqliteStoreOptions } from './sqlite.js';
// Type-only: only a server on etcd loads the etcd store and its gRPC channel.
export type { EtcdStore, EtcdStoreOptions } from './etcd.js';

export interface OpenStoreOptions {
  backend: 'memory' | 'sqlite' | 'etcd';
  /** sqlite: directory of the database file. */
  dataDir?: string;
  /** etcd: client URLs, e.g. http://127.0.0.1:2379. */
  etcdEndpoints?: string[];
  /** etcd: prefix of every key (default "/k8ts"). */
  etcdPrefix?: string;
}

export async function openStore(opts: OpenStoreOptions): Promise<Store> {
  switch (opts.backend) {
    case 'memory':
      return new MemoryStore();
    case 'sqlite':
      if (!opts.dataDir) throw new Error('the sqlite store needs a data dir (dataDir)');
      return SqliteStore.open({ dataDir: opts.dataDir });
    case 'etcd':
      if (!opts.etcdEndpoints || opts.etcdEndpoints.length === 0) {
        throw new Error('the etcd store needs at least one endpoint (etcdEndpoints)');
      }
      return (await import('./etcd.js')).EtcdStore.open({ endpoints: opts.etcdEndpoints, prefix: opts.etcdPrefix });
    default:
      throw new Error(`unknown store backend ${JSON.stringify((opts as { backend: unknown }).backend)}: use memory, sqlite or etcd`);
  }
}
