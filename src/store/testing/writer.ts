// Child process of the durability test: makes acknowledged creates as fast as it can and prints each
// acknowledged key on its own stdout line, until it is killed.
//   node writer.js sqlite <dataDir>
//   node writer.js etcd <endpoint> <prefix>
import { openStore } from '../index.js';

const [backend, target, prefix] = process.argv.slice(2);
if (backend !== 'sqlite' && backend !== 'etcd') {
  process.stderr.write('usage: writer.js sqlite <dataDir> | etcd <endpoint> <prefix>\n');
  process.exit(2);
}
const store = await openStore(backend === 'sqlite' ? { backend, dataDir: target } : { backend, etcdEndpoints: [target], etcdPrefix: prefix });

const CONCURRENCY = 8;
let next = 0;
async function worker(): Promise<void> {
  for (;;) {
    const key = `/durability/${String(next++).padStart(8, '0')}`;
    await store.create(key, JSON.stringify({ key, pad: 'x'.repeat(200) }));
    // stdout to a pipe is synchronous on Linux: once written, the line is the parent's.
    process.stdout.write(`${key}\n`);
  }
}
await Promise.all(Array.from({ length: CONCURRENCY }, worker));
