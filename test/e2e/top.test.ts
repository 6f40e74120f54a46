// `kubectl top` on a real 2-node lab: a busybox busy loop shows CPU, a pod that holds 48 MB shows its memory,
// both nodes show their usage; with one node's agent killed, that node is left out (or <unknown>) and the
// other node and its pods still answer; back when the agent is.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { busybox, clusterFixture, restartLabProcess, skip, until } from './clusterkit.js';

const RESOLUTION = 2;

describe('kubectl top on a 2-node lab', { skip }, () => {
  const get = clusterFixture(`top${process.pid % 10000}`, ['--metric-resolution', String(RESOLUTION)]);

  test('top nodes and top pods --containers show the busy pod\'s CPU and the holder\'s memory; a node whose agent is down is left out', async () => {
    const c = get();
    const nodes = (await c.ok(['get', 'nodes', '-o', 'jsonpath={.items[*].metadata.name}'])).trim().split(' ').sort();
    assert.equal(nodes.length, 2);
    await c.ok(['apply', '-f', '-'], busybox('busy', nodes[0], 'while :; do :; done')
      // 48 MB in a shell variable: anonymous memory the working set counts. The command after sleep keeps the
      // shell alive: busybox sh execs the last command of -c in place of itself, and x would go with it.
      + busybox('holder', nodes[1], 'x=$(head -c 48000000 /dev/zero | tr "\\0" a); sleep 3600; echo ${#x}'));
    await c.ok(['wait', '--for=condition=Ready', 'pod/busy', 'pod/holder', '--timeout=90s']);

    const pods = await until<string | false>('kubectl top pods --containers with both pods', async () => {
      const r = await c.k(['top', 'pods', '--containers']);
      const busy = /^busy\s+main\s+(\d+)m\s+(\d+)Mi/m.exec(r.stdout);
      const holder = /^holder\s+main\s+(\d+)m\s+(\d+)Mi/m.exec(r.stdout);
      // Not there yet: the answer is the error until names, so a timeout shows what kubectl printed last.
      if (!(r.code === 0 && busy && holder && Number(busy[1]) >= 50)) throw new Error(`kubectl top pods --containers (${r.code}):\n${r.stdout}${r.stderr}`);
      return r.stdout;
    }, 90_000);
    // The holder's 48 MB, once a scrape after its string was built has come in.
    await until('the holder\'s working set', async () => {
      const m = /^holder\s+main\s+\d+m\s+(\d+)Mi/m.exec((await c.k(['top', 'pods', '--containers'])).stdout);
      return m !== null && Number(m[1]) >= 40 && Number(m[1]) < 200;
    }, 60_000);
    assert.match(String(pods), /^POD\s+NAME\s+CPU\(cores\)\s+MEMORY\(bytes\)/m);

    const top = await until<string | false>('kubectl top nodes with both nodes', async () => {
      const r = await c.k(['top', 'nodes']);
      return r.code === 0 && nodes.every((n) => new RegExp(`^${n}\\s+\\d+m\\s+\\d+%\\s+\\d+Mi\\s+\\d+%`, 'm').test(r.stdout)) && r.stdout;
    }, 30_000);
    assert.match(String(top), /^NAME\s+CPU\(cores\)\s+CPU\(?%\)?\s+MEMORY\(bytes\)\s+MEMORY\(?%\)?/m);
    // metrics-server's fields over the API: a window of about the resolution, usage in quantities.
    const nm = JSON.parse(await c.ok(['get', '--raw', `/apis/metrics.k8s.io/v1beta1/nodes/${nodes[0]}`]));
    assert.equal(nm.kind, 'NodeMetrics');
    assert.match(nm.window, /^\d+(\.\d+)?s$/);
    const all = await c.ok(['top', 'pods', '-A', '-l', 'app in (busy,holder)']);
    assert.match(all, /^default\s+busy\s/m);

    // Hostile: node 2's agent killed. Its node goes from the answer; node 1 and its pod still answer.
    await restartLabProcess(c, `agent-${nodes[1]}`, async () => {
      await until('top nodes without the node whose agent is down', async () => {
        const r = await c.k(['top', 'nodes']);
        const down = r.stdout.split('\n').find((l) => l.startsWith(`${nodes[1]} `));
        return r.code === 0 && new RegExp(`^${nodes[0]}\\s+\\d+m`, 'm').test(r.stdout) && (!down || /<unknown>/.test(down)) && r.stdout;
      }, 30_000);
      const r = await c.k(['top', 'pods', 'busy']);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /^busy\s+\d+m/m);
      const gone = await c.k(['get', '--raw', `/apis/metrics.k8s.io/v1beta1/namespaces/default/pods/holder`]);
      assert.notEqual(gone.code, 0);
      assert.match(gone.stderr, /NotFound|not found/);
    });
    // Back: the node answers again after two scrapes.
    await until('top nodes with the agent back', async () => {
      const r = await c.k(['top', 'nodes']);
      return r.code === 0 && new RegExp(`^${nodes[1]}\\s+\\d+m`, 'm').test(r.stdout);
    }, 60_000);
    await c.ok(['delete', 'pod', 'busy', 'holder', '--wait=false']);
  });
});
