// K8TS_NODE_FLAGS reaches a command line: only --flag or --flag=value words pass.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { nodeFlags } from './lab.js';

test('K8TS_NODE_FLAGS: Node.js flags for the lab processes, each word proven before it reaches a command line', () => {
  assert.deepEqual(nodeFlags(undefined), []);
  assert.deepEqual(nodeFlags('  '), []);
  assert.deepEqual(nodeFlags('--cpu-prof --cpu-prof-dir=/tmp/prof-1 --max-old-space-size=512'), [
    '--cpu-prof',
    '--cpu-prof-dir=/tmp/prof-1',
    '--max-old-space-size=512',
  ]);
  for (const bad of ['-e', '--eval=process.exit()', '--require=x;y', '--inspect=0.0.0.0:1 $(id)', 'x', '--A', '--a=b c"']) {
    assert.throws(() => nodeFlags(bad), /K8TS_NODE_FLAGS: .* is not a --flag or --flag=value/, bad);
  }
});

test('--sync-frequency: refused outside 1 s to a day, naming the flag, before anything is made', async () => {
  const { upCommand } = await import('./lab.js');
  const { agentCommand } = await import('./agent.js');
  const { UsageError } = await import('./args.js');
  for (const bad of ['0', '-5', '86401', 'NaN']) {
    const named = (e: unknown) => e instanceof UsageError && e.message.includes('--sync-frequency');
    await assert.rejects(upCommand(['--name', 'never-made', '--sync-frequency', bad]), named, `up ${bad}`);
    await assert.rejects(
      agentCommand(['--server', 'https://127.0.0.1:1', '--node-name', 'n', '--ca-file', '/nonexistent', '--sync-frequency', bad]),
      named,
      `agent ${bad}`,
    );
  }
});
