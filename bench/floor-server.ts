// The floor an API create stands on, for bench/api.ts: Node HTTPS with keep-alive, JSON.parse and
// JSON.stringify of the body, a durable SQLite insert (the store's better-sqlite3, WAL, synchronous=FULL)
// committed in groups per event-loop turn, and nothing of Kubernetes. Run as its own process, like the
// server it anchors:
//   node dist/bench/floor-server.js <dir>     (prints "listening on <port>" once ready)
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:https';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { selfSigned, writeKeyAndCert } from '../src/api/certificates/issue.js';

const dir = process.argv[2];
if (!dir) {
  process.stderr.write('usage: floor-server.js <dir>\n');
  process.exit(2);
}

// A throwaway serving key and certificate; the client is told to trust exactly this one.
const key = join(dir, 'floor.key');
const crt = join(dir, 'floor.crt');
writeKeyAndCert(await selfSigned({ subject: { cn: '127.0.0.1' }, usage: 'server', names: ['127.0.0.1'], days: 1 }), key, crt);

// The store's pragmas (src/store/sqlite.ts).
const db = new Database(join(dir, 'floor.db'), { timeout: 5000 });
db.pragma('journal_mode = WAL');
db.pragma('synchronous = FULL');
db.pragma('cache_size = -65536');
db.exec('CREATE TABLE kv (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL UNIQUE, value TEXT NOT NULL)');
const insert = db.prepare('INSERT INTO kv (name, value) VALUES (?, ?)');

interface Pending {
  name: string;
  value: string;
  done(id: number | Error): void;
}
let queue: Pending[] = [];
let scheduled = false;
const commit = db.transaction((batch: Pending[]) =>
  batch.map((p) => {
    try {
      return Number(insert.run(p.name, p.value).lastInsertRowid);
    } catch (e) {
      return e as Error;
    }
  }),
);

function flush(): void {
  scheduled = false;
  const batch = queue;
  queue = [];
  const ids = commit(batch);
  for (let i = 0; i < batch.length; i++) batch[i].done(ids[i]);
}

const server = createServer({ key: readFileSync(key), cert: readFileSync(crt), keepAliveTimeout: 60_000 }, (req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    let obj: { metadata?: { name?: string; uid?: string; creationTimestamp?: string; resourceVersion?: string } };
    try {
      obj = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    } catch {
      res.writeHead(400).end('{"message":"bad json"}\n');
      return;
    }
    const meta = (obj.metadata ??= {});
    meta.uid = randomUUID();
    meta.creationTimestamp = new Date().toISOString();
    queue.push({
      name: `${req.url}/${meta.name}`,
      value: JSON.stringify(obj),
      done: (id) => {
        if (id instanceof Error) {
          res.writeHead(409, { 'Content-Type': 'application/json' }).end(`${JSON.stringify({ message: id.message })}\n`);
          return;
        }
        meta.resourceVersion = String(id);
        const out = `${JSON.stringify(obj)}\n`;
        res.writeHead(201, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(out) }).end(out);
      },
    });
    if (!scheduled) {
      scheduled = true;
      setImmediate(flush);
    }
  });
});
server.listen(0, '127.0.0.1', () => {
  const addr = server.address();
  process.stdout.write(`listening on ${typeof addr === 'object' && addr ? addr.port : 0}\n`);
});
process.on('SIGTERM', () => {
  server.close();
  server.closeAllConnections();
  db.close();
  process.exit(0);
});
