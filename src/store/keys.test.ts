// Key order and prefix ranges must agree with the byte order etcd and SQLite use.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { compareKeys, prefixEnd } from './keys.js';

const byBytes = (a: string, b: string) => Buffer.compare(Buffer.from(a), Buffer.from(b));

describe('compareKeys', () => {
  it('orders like the UTF-8 bytes', () => {
    const keys = ['/a', '/a/', '/a/1', '/a/10', '/a/2', '/ab', '/é', '/\uFF21', '/\u{1F600}', '/\u{10FFFF}', '', '/\uE000', '/\uD7FF'];
    for (const a of keys) {
      for (const b of keys) assert.equal(Math.sign(compareKeys(a, b)), Math.sign(byBytes(a, b)), `${a} vs ${b}`);
    }
  });
});

describe('prefixEnd', () => {
  it('is the first string after every key with the prefix', () => {
    assert.equal(prefixEnd('/a/'), '/a0');
    assert.equal(prefixEnd('/a'), '/b');
    assert.equal(prefixEnd(''), undefined);
    for (const p of ['/a/', '/x\uD7FF', '/x\uFFFF', '/x\u{1F600}', '/x\u{10FFFF}']) {
      const end = prefixEnd(p)!;
      assert.ok(byBytes(p, end) < 0, `${JSON.stringify(p)} < its end`);
      for (const tail of ['', 'a', '\uFFFF', '\u{10FFFF}\u{10FFFF}']) {
        assert.ok(byBytes(p + tail, end) < 0, `${JSON.stringify(p + tail)} is below the end of ${JSON.stringify(p)}`);
      }
    }
  });
});
