// Flag parsing: values typed by the spec, booleans only true/false (or the flag alone), bad values named.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type FlagSpec, parseFlags, requireFlags, UsageError } from './args.js';

const SPEC = {
  name: { type: 'string', default: 'k8ts', help: 'cluster name' },
  nodes: { type: 'number', default: 2, help: 'node count' },
  verbose: { type: 'boolean', help: 'say more' },
  server: { type: 'string', help: 'server URL' },
  'tls-san': { type: 'list', help: 'extra names' },
} satisfies FlagSpec;

test('values are typed by the spec, defaults filled, the rest kept in order', () => {
  const { flags, rest } = parseFlags(['a', '--nodes', '3', '--name=x', 'b', '--verbose'], SPEC);
  const nodes: number = flags.nodes;
  const verbose: boolean | undefined = flags.verbose;
  const server: string | undefined = flags.server;
  assert.equal(nodes, 3);
  assert.equal(flags.name, 'x');
  assert.equal(verbose, true);
  assert.equal(server, undefined);
  assert.deepEqual(flags['tls-san'], []);
  assert.deepEqual(rest, ['a', 'b']);
  // @ts-expect-error a flag the spec does not declare is a compile error, not an undefined read.
  assert.equal(flags.node, undefined);
});

test('a boolean is true alone, and takes only a boolean word after =', () => {
  assert.equal(parseFlags(['--verbose=true'], SPEC).flags.verbose, true);
  assert.equal(parseFlags(['--verbose=false'], SPEC).flags.verbose, false);
  assert.equal(parseFlags(['--verbose=1'], SPEC).flags.verbose, true);
  assert.equal(parseFlags(['--verbose=0'], SPEC).flags.verbose, false);
  // `--verbose no` is the flag and a positional argument, as in Go's flag package.
  assert.deepEqual(parseFlags(['--verbose', 'no'], SPEC), { flags: { name: 'k8ts', nodes: 2, 'tls-san': [], verbose: true }, rest: ['no'] });
  for (const bad of ['yes', 'no', '', 'ture', 'False ', 'off']) {
    assert.throws(
      () => parseFlags([`--verbose=${bad}`], SPEC),
      (e: unknown) => e instanceof UsageError && e.message.includes('--verbose') && e.message.includes(JSON.stringify(bad)) && /not a boolean/.test(e.message),
      `--verbose=${bad}`,
    );
  }
});

test('bad numbers, missing values and unknown flags are usage errors naming the flag', () => {
  for (const [argv, re] of [
    [['--nodes', 'three'], /--nodes: "three" is not a number/],
    [['--nodes='], /--nodes: "" is not a number/],
    [['--nodes', ' '], /--nodes: " " is not a number/],
    [['--nodes', 'Infinity'], /--nodes: "Infinity" is not a number/],
    [['--nodes'], /--nodes needs a value/],
    [['--nodez', '3'], /unknown flag --nodez/],
    [['--constructor'], /unknown flag --constructor/],
    [['--__proto__=1'], /unknown flag --__proto__/],
  ] as const) {
    assert.throws(
      () => parseFlags([...argv], SPEC),
      (e: unknown) => e instanceof UsageError && re.test(e.message),
      argv.join(' '),
    );
  }
});

test('a list flag collects each value given', () => {
  assert.deepEqual(parseFlags(['--tls-san', 'a', '--tls-san=b'], SPEC).flags['tls-san'], ['a', 'b']);
});

test('requireFlags names the first missing flag and narrows the rest', () => {
  const { flags } = parseFlags(['--server', 'https://x'], SPEC);
  const proven = requireFlags(flags, ['server'], 'k8ts thing');
  const s: string = proven.server;
  assert.equal(s, 'https://x');
  assert.throws(() => requireFlags(parseFlags([], SPEC).flags, ['server'], 'k8ts thing'), /k8ts thing: --server is required/);
});
