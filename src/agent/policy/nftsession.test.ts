// The long-lived nft child against the kernel, in a throwaway namespace: a transaction is atomic (one bad
// line and nothing of it lands, the error names the line), answers stay paired with their requests when
// many are in flight, a killed child is replaced on the next request, and hostile command text is refused.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { run } from '../../util/exec.js';
import { NftCommandError, NftSession } from './nftsession.js';

const IS_ROOT = process.getuid?.() === 0;
const skip = IS_ROOT ? false : 'needs root: network namespaces and nftables';
const ns = `k8tsnps-${randomBytes(3).toString('hex')}`;
const netns = `/run/netns/${ns}`;
const T = 'k8tsnpsess';

before(async () => {
  if (!IS_ROOT) return;
  await run(['ip', 'netns', 'add', ns]);
});
after(async () => {
  if (!IS_ROOT) return;
  await run(['ip', 'netns', 'del', ns]).catch(() => undefined);
});

const elements = async () => {
  const { stdout } = await run(['nsenter', `--net=${netns}`, '--', 'nft', '-j', 'list', 'set', 'ip', T, 's']);
  const set = JSON.parse(stdout).nftables.find((x: { set?: unknown }) => x.set).set as { elem?: number[] };
  return (set.elem ?? []).slice().sort((a, b) => a - b);
};

test('a transaction is atomic, errors name the line, answers pair with requests, a killed child is replaced', { skip }, async () => {
  const s = new NftSession({ netns });
  let dir = '';
  try {
    await s.transaction(`table ip ${T}\ndelete table ip ${T}\ntable ip ${T} {\n  set s { type inet_service; }\n}\nadd element ip ${T} s { 1, 2 }\n`);
    assert.deepEqual(await elements(), [1, 2]);
    dir = (s as unknown as { lastTxDir: string }).lastTxDir;
    assert.ok(dir && !existsSync(dir), `the answered transaction's ${dir} is left behind`);
    // The second line fails: the first must not land either.
    const err = await s.transaction(`add element ip ${T} s { 3 }\nadd element ip ${T} nosuch { 4 }\n`).then(
      () => undefined,
      (e: Error) => e,
    );
    assert.ok(err instanceof NftCommandError, `expected an nft error, got ${err}`);
    assert.match(err.message, /Error: No such file or directory/);
    assert.match(err.output, /nosuch/);
    assert.deepEqual(await elements(), [1, 2]);
    // Many in flight: each answer belongs to its own request.
    const results = await Promise.allSettled([
      s.transaction(`add element ip ${T} s { 10 }\n`),
      s.command(`list set ip ${T} nosuch`),
      s.transaction(`add element ip ${T} s { 11 }\n`),
      s.command(`list set ip ${T} s`),
      s.transaction(`add element ip ${T} s { 1 . 2 }\n`),
    ]);
    assert.deepEqual(
      results.map((r) => r.status),
      ['fulfilled', 'rejected', 'fulfilled', 'fulfilled', 'rejected'],
    );
    assert.match((results[3] as PromiseFulfilledResult<string>).value, /elements = \{ 1, 2, 10, 11 \}/);
    assert.deepEqual(await elements(), [1, 2, 10, 11]);
    // Hostile single commands are refused before they reach nft.
    await assert.rejects(s.command(`list set ip ${T} s\nflush ruleset`), /one line/);
    await assert.rejects(s.command(`include "/etc/passwd"`), /one line/);
    // The child dies: the next request starts another one.
    const spawns = s.stats.spawns;
    (s as unknown as { child: { child: { kill: (sig: string) => void } } }).child.child.kill('SIGKILL');
    await new Promise((r) => setTimeout(r, 100));
    await s.transaction(`add element ip ${T} s { 12 }\n`);
    assert.equal(s.stats.spawns, spawns + 1);
    assert.deepEqual(await elements(), [1, 2, 10, 11, 12]);
  } finally {
    await s.stop();
    await run(['nsenter', `--net=${netns}`, '--', 'nft', 'delete', 'table', 'ip', T]).catch(() => undefined);
  }
  // Every transaction's file went with its answer, the failed ones too.
  const last = (s as unknown as { lastTxDir: string }).lastTxDir;
  assert.ok(last && last !== dir && !existsSync(last), `${last} is left behind`);
});
