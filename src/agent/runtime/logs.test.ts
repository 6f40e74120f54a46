// Log reading from a log file and the shim's size index, without containers: selection and timestamps.
import assert from 'node:assert/strict';
import { appendFile, mkdtemp, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { containerPaths, type ContainerPaths } from './container.js';
import { formatTimestamp, readLog, type LogOptions } from './logs.js';

async function text(r: Readable): Promise<string> {
  let s = '';
  for await (const c of r) s += (c as Buffer).toString();
  return s;
}

describe('readLog', () => {
  let base: string;
  let p: ContainerPaths;
  const now = Math.floor(Date.now() / 1000);
  // Three lines, the third without a newline, arriving 100 s ago, 50 s ago and 10 s ago.
  const log = 'first line\nsecond\nthird partial';
  const read = (o: LogOptions) => text(readLog(p, o, async () => true));

  before(async () => {
    base = await mkdtemp(join(tmpdir(), 'k8tsrt-logs-'));
    p = containerPaths(base, 'c1');
    await (await import('node:fs/promises')).mkdir(p.dir);
    await writeFile(p.log, log);
    // The second entry is mid-line: "second" ends at 18, so its time is the third entry's.
    await writeFile(p.idx, `11 ${now - 100} 5\n15 ${now - 50} 0\n18 ${now - 10} 123456789\n${log.length} ${now - 10} 500000000\n`);
  });
  after(() => rm(base, { recursive: true, force: true }));

  it('returns the raw bytes by default', async () => assert.equal(await read({}), log));

  it('prefixes RFC 3339 nanosecond timestamps from the index', async () => {
    assert.equal(
      await read({ timestamps: true }),
      [
        `${formatTimestamp({ sec: now - 100, nsec: 5 })} first line\n`,
        `${formatTimestamp({ sec: now - 10, nsec: 123456789 })} second\n`,
        `${formatTimestamp({ sec: now - 10, nsec: 500000000 })} third partial`,
      ].join(''),
    );
    assert.match(formatTimestamp({ sec: 0, nsec: 7 }), /^1970-01-01T00:00:00\.000000007Z$/);
  });

  it('tailLines counts a final line without newline', async () => {
    assert.equal(await read({ tailLines: 1 }), 'third partial');
    assert.equal(await read({ tailLines: 2 }), 'second\nthird partial');
    assert.equal(await read({ tailLines: 10 }), log);
    assert.equal(await read({ tailLines: 0 }), '');
  });

  it('sinceSeconds keeps lines that arrived within the window', async () => {
    assert.equal(await read({ sinceSeconds: 30 }), 'second\nthird partial');
    assert.equal(await read({ sinceSeconds: 1000 }), log);
    assert.equal(await read({ sinceSeconds: 1 }), '');
    assert.equal(await read({ sinceTime: new Date((now - 60) * 1000) }), 'second\nthird partial');
  });

  it('limitBytes cuts the output, timestamps included', async () => {
    assert.equal(await read({ limitBytes: 5 }), 'first');
    const ts = await read({ timestamps: true, limitBytes: 40 });
    assert.equal(ts.length, 40);
    assert.ok(ts.startsWith(formatTimestamp({ sec: now - 100, nsec: 5 })));
  });

  it('lines the index does not cover take the file mtime', async () => {
    const q = containerPaths(base, 'c2');
    await (await import('node:fs/promises')).mkdir(q.dir);
    await writeFile(q.log, 'a\nb\n');
    await writeFile(q.idx, `2 ${now - 5} 0\n`);
    const m = new Date((now - 1) * 1000);
    await utimes(q.log, m, m);
    const out = await text(readLog(q, { timestamps: true }, async () => true));
    assert.equal(out, `${formatTimestamp({ sec: now - 5, nsec: 0 })} a\n${formatTimestamp({ sec: now - 1, nsec: 0 })} b\n`);
  });

  it('follow streams what is appended and ends once the container has finished', async () => {
    const q = containerPaths(base, 'c3');
    await (await import('node:fs/promises')).mkdir(q.dir);
    await writeFile(q.log, 'one\n');
    let finished = false;
    const stream = readLog(q, { follow: true }, async () => finished);
    const got: string[] = [];
    const done = (async () => {
      for await (const c of stream) got.push((c as Buffer).toString());
    })();
    await new Promise((r) => setTimeout(r, 100));
    await appendFile(q.log, 'two\n');
    await new Promise((r) => setTimeout(r, 400));
    assert.equal(got.join(''), 'one\ntwo\n');
    await appendFile(q.log, 'three');
    finished = true;
    await done;
    assert.equal(got.join(''), 'one\ntwo\nthree');
  });

  it('follow can be stopped by destroying the stream', async () => {
    const stream = readLog(p, { follow: true }, async () => false);
    const first = await new Promise<string>((resolve) => stream.once('data', (c: Buffer) => resolve(c.toString())));
    assert.equal(first, log);
    stream.destroy();
    await new Promise((r) => stream.once('close', r));
  });
});
