// `up`: preflight first, then the steps; a failing step leaves no trace of the cluster on the host.
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { run } from '../util/exec.js';
import { claimPath } from './claims.js';
import { LabError } from './errors.js';
import { RUN_DIR } from './paths.js';
import { listPlans } from './plan.js';
import { StepError } from './steps.js';
import { PreflightError, up } from './up.js';
import { NEEDS_ROOT, captureLog, hostLinkIndexes, netnsList, stemLinkIndexes, tempHome, uniqueName } from './testkit.js';

describe('up', { skip: NEEDS_ROOT }, () => {
  const homes: { cleanup(): Promise<void> }[] = [];
  after(async () => {
    for (const h of homes) await h.cleanup();
  });

  test('a failing step undoes the topology and removes the state directory and the claim', async () => {
    const h = await tempHome();
    homes.push(h);
    const name = uniqueName();
    const { lines, log } = captureLog();
    let stem = '';
    let undoneBeforeFailure = false;
    let controlRan = false;
    let controlUndone = false;
    let madeLinks: number[] = [];
    await assert.rejects(
      up({
        name,
        nodes: 2,
        home: h.home,
        log,
        // The control plane's steps run before the nodes are made (the server boots meanwhile).
        controlPlane: (plan) => [
          {
            name: 'Starting etcd',
            execute: async () => {
              assert.ok(!(await netnsList()).includes(plan.nodes[0].netns), 'no node namespace yet');
              controlRan = true;
            },
            undo: () => {
              controlUndone = true;
            },
          },
        ],
        steps: (plan) => {
          stem = plan.stem;
          return [
            {
              name: 'Starting the API server',
              execute: async () => {
                // The topology is there when this step runs...
                assert.ok((await netnsList()).includes(plan.nodes[1].netns));
                madeLinks = await stemLinkIndexes(plan.stem);
                await run(['sh', '-c', 'echo injected failure >&2; exit 7']);
              },
              undo: () => {
                undoneBeforeFailure = true;
              },
            },
          ];
        },
      }),
      (e: unknown) => {
        assert.ok(e instanceof StepError);
        assert.equal(e.step, 'Starting the API server');
        assert.equal(e.stderr, 'injected failure\n');
        assert.deepEqual(e.command, ['sh', '-c', 'echo injected failure >&2; exit 7']);
        return true;
      },
    );
    assert.ok(undoneBeforeFailure);
    assert.ok(controlRan && controlUndone);
    const shown = lines.map((l) => l.replace(/ \(\d+ ms\)$/, '').replace(/:.*/, ''));
    assert.deepEqual(shown, [
      `✓ Planning cluster ${name}`,
      `✓ Creating node network ${stem} 172.30.${stem.slice(4)}.0/24`,
      `✓ Making a cgroup for each node (${stem}-${name})`,
      '✓ Starting etcd',
      '✓ Creating 2 nodes',
      '✗ Starting the API server',
      '✓ Undo',
      '✓ Undo',
      '✓ Undo',
      '✓ Undo',
      '✓ Undo',
    ]);
    // Nor its cgroups (made beside ours: up ran in this process).
    for (const c of ['cpuacct', 'memory']) {
      const own = /^\d+:[^:]*\b(?:cpuacct|memory)\b[^:]*:(.*)$/m;
      const line = readFileSync('/proc/self/cgroup', 'utf8')
        .split('\n')
        .find((l) => l.split(':')[1]?.split(',').includes(c));
      const path = line && own.exec(line)?.[1];
      if (path !== undefined && existsSync(`/sys/fs/cgroup/${c}`)) assert.ok(!existsSync(`/sys/fs/cgroup/${c}${path}/${stem}-${name}`), `${c} cgroup left`);
    }
    // ...and none of it is there after the failure (looked up by the cluster's own name and by link index:
    // a concurrent test may take the freed stem at once).
    assert.ok(!(await netnsList()).some((n) => n.includes(name)));
    const indexes = await hostLinkIndexes();
    assert.equal(madeLinks.length, 3);
    assert.ok(!madeLinks.some((i) => indexes.includes(i)));
    assert.ok(!existsSync(`${h.home}/${name}`));
    assert.deepEqual(await listPlans(h.home), []);
    const claim = claimPath(RUN_DIR, Number(stem.slice(4)));
    assert.ok(!existsSync(claim) || !readFileSync(claim, 'utf8').includes(name), 'the claim is released');
  });

  test('preflight problems stop up before anything is made', async () => {
    const h = await tempHome();
    homes.push(h);
    // Cluster and service CIDR overlap each other. The /16 is picked at random because plans refuse ranges
    // that a concurrent test's cluster holds; that refusal (RangeCollision) means: pick another.
    for (let attempt = 0; ; attempt++) {
      const cidr = `10.${128 + Math.floor(Math.random() * 64)}.0.0/16`;
      const err = await up({ name: uniqueName(), nodes: 1, home: h.home, log: () => {}, serviceCIDR: cidr, clusterCIDR: cidr }).then(
        () => assert.fail('up succeeded'),
        (e: unknown) => e,
      );
      if (err instanceof LabError && err.code === 'RangeCollision' && attempt < 5) continue;
      assert.ok(err instanceof PreflightError && err instanceof LabError, String(err));
      assert.equal(err.code, 'PreflightFailed');
      assert.ok(err.problems.some((p) => p.code === 'RangeCollision' && p.message.startsWith(`cluster CIDR ${cidr} collides with the service CIDR ${cidr}`)));
      break;
    }
    assert.deepEqual(await listPlans(h.home), []);
  });
});
