// `kubectl top` on a real 2-node lab: a busybox busy loop shows CPU, a pod that holds 48 MB shows its memory,
// both nodes show their usage; with one node's agent killed, that node is left out (or <unknown>) and the
// other node and its pods still answer; back when the agent is. Each node is its own cgroup: memory used on
// one node shows on that node only.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { busybox, clusterFixture, labProcess, restartLabProcess, skip, until } from './clusterkit.js';

const RESOLUTION = 2;

describe('kubectl top on a 2-node lab', { skip }, () => {
  const get = clusterFixture(`top${process.pid % 10000}`, ['--metric-resolution', String(RESOLUTION)]);

  test("top nodes and top pods --containers show the busy pod's CPU and the holder's memory; a node whose agent is down is left out", async () => {
    const c = get();
    const nodes = (await c.ok(['get', 'nodes', '-o', 'jsonpath={.items[*].metadata.name}'])).trim().split(' ').sort();
    assert.equal(nodes.length, 2);
    await c.ok(
      ['apply', '-f', '-'],
      busybox('busy', nodes[0], 'while :; do :; done') +
        // 48 MB in a shell variable: anonymous memory the working set counts. The command after sleep keeps the
        // shell alive: busybox sh execs the last command of -c in place of itself, and x would go with it.
        // biome-ignore lint/suspicious/noTemplateCurlyInString: ${#x} is the shell's string length
        busybox('holder', nodes[1], 'x=$(head -c 48000000 /dev/zero | tr "\\0" a); sleep 3600; echo ${#x}'),
    );
    await c.ok(['wait', '--for=condition=Ready', 'pod/busy', 'pod/holder', '--timeout=90s']);

    const pods = await until<string | false>(
      'kubectl top pods --containers with both pods',
      async () => {
        const r = await c.k(['top', 'pods', '--containers']);
        const busy = /^busy\s+main\s+(\d+)m\s+(\d+)Mi/m.exec(r.stdout);
        const holder = /^holder\s+main\s+(\d+)m\s+(\d+)Mi/m.exec(r.stdout);
        // Not there yet: the answer is the error until names, so a timeout shows what kubectl printed last.
        if (!(r.code === 0 && busy && holder && Number(busy[1]) >= 50)) throw new Error(`kubectl top pods --containers (${r.code}):\n${r.stdout}${r.stderr}`);
        return r.stdout;
      },
      90_000,
    );
    // The holder's 48 MB, once a scrape after its string was built has come in.
    await until(
      "the holder's working set",
      async () => {
        const m = /^holder\s+main\s+\d+m\s+(\d+)Mi/m.exec((await c.k(['top', 'pods', '--containers'])).stdout);
        return m !== null && Number(m[1]) >= 40 && Number(m[1]) < 200;
      },
      60_000,
    );
    assert.match(String(pods), /^POD\s+NAME\s+CPU\(cores\)\s+MEMORY\(bytes\)/m);

    const top = await until<string | false>(
      'kubectl top nodes with both nodes',
      async () => {
        const r = await c.k(['top', 'nodes']);
        return r.code === 0 && nodes.every((n) => new RegExp(`^${n}\\s+\\d+m\\s+\\d+%\\s+\\d+Mi\\s+\\d+%`, 'm').test(r.stdout)) && r.stdout;
      },
      30_000,
    );
    assert.match(String(top), /^NAME\s+CPU\(cores\)\s+CPU\(?%\)?\s+MEMORY\(bytes\)\s+MEMORY\(?%\)?/m);
    // metrics-server's fields over the API: a window of about the resolution, usage in quantities.
    const nm = JSON.parse(await c.ok(['get', '--raw', `/apis/metrics.k8s.io/v1beta1/nodes/${nodes[0]}`]));
    assert.equal(nm.kind, 'NodeMetrics');
    assert.match(nm.window, /^\d+(\.\d+)?s$/);
    const all = await c.ok(['top', 'pods', '-A', '-l', 'app in (busy,holder)']);
    assert.match(all, /^default\s+busy\s/m);

    // Hostile: node 2's agent killed. Its node goes from the answer; node 1 and its pod still answer.
    await restartLabProcess(c, `agent-${nodes[1]}`, async () => {
      await until(
        'top nodes without the node whose agent is down',
        async () => {
          const r = await c.k(['top', 'nodes']);
          const down = r.stdout.split('\n').find((l) => l.startsWith(`${nodes[1]} `));
          return r.code === 0 && new RegExp(`^${nodes[0]}\\s+\\d+m`, 'm').test(r.stdout) && (!down || /<unknown>/.test(down)) && r.stdout;
        },
        30_000,
      );
      const r = await c.k(['top', 'pods', 'busy']);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /^busy\s+\d+m/m);
      const gone = await c.k(['get', '--raw', `/apis/metrics.k8s.io/v1beta1/namespaces/default/pods/holder`]);
      assert.notEqual(gone.code, 0);
      assert.match(gone.stderr, /NotFound|not found/);
    });
    // Back: the node answers again after two scrapes.
    await until(
      'top nodes with the agent back',
      async () => {
        const r = await c.k(['top', 'nodes']);
        return r.code === 0 && new RegExp(`^${nodes[1]}\\s+\\d+m`, 'm').test(r.stdout);
      },
      60_000,
    );
    await c.ok(['delete', 'pod', 'busy', 'holder', '--wait=false']);
  });

  test("each node is its own cgroup: a memory-hungry pod on node A raises A's memory in kubectl top nodes, not B's, and B is not the host", async () => {
    const c = get();
    const [a, b] = (await c.ok(['get', 'nodes', '-o', 'jsonpath={.items[*].metadata.name}'])).trim().split(' ').sort();
    // The lab made a cgroup per node and the agent runs in it.
    const agentA = labProcess(c, `agent-${a}`);
    assert.ok(agentA.cgroups?.length, `agent-${a} was started without cgroups: ${JSON.stringify(agentA)}`);
    for (const d of agentA.cgroups!) {
      assert.ok(d.endsWith(`/${c.plan.stem}-${c.name}/${a}`), d);
      assert.ok(readFileSync(join(d, 'cgroup.procs'), 'utf8').split('\n').includes(String(agentA.pid)), `agent-${a} (${agentA.pid}) not in ${d}`);
    }
    // 256 MB of anonymous memory held by a pod on A only.
    // biome-ignore lint/suspicious/noTemplateCurlyInString: ${#x} is the shell's string length
    await c.ok(['apply', '-f', '-'], busybox('hungry', a, 'x=$(head -c 256000000 /dev/zero | tr "\\0" a); sleep 3600; echo ${#x}'));
    await c.ok(['wait', '--for=condition=Ready', 'pod/hungry', '--timeout=90s']);
    const mem = (out: string, n: string) => Number(new RegExp(`^${n}\\s+\\d+m\\s+\\d+%\\s+(\\d+)Mi`, 'm').exec(out)?.[1] ?? NaN);
    const top = await until<string | false>(
      "node A's memory 200 Mi above node B's in kubectl top nodes",
      async () => {
        const r = await c.k(['top', 'nodes']);
        if (r.code !== 0 || !(mem(r.stdout, a) - mem(r.stdout, b) >= 200)) throw new Error(`kubectl top nodes (${r.code}):\n${r.stdout}${r.stderr}`);
        return r.stdout;
      },
      90_000,
    );
    // B is a node, not the host: far below what the host's whole working set is.
    const meminfo = readFileSync('/proc/meminfo', 'utf8');
    const kb = (k: string) => Number(new RegExp(`^${k.replace(/[()]/g, '\\$&')}:\\s+(\\d+)`, 'm').exec(meminfo)![1]) * 1024;
    const hostMi = (kb('MemTotal') - kb('MemFree') - kb('Inactive(file)')) / 2 ** 20;
    assert.ok(mem(String(top), b) < hostMi / 2, `node ${b} shows ${mem(String(top), b)} Mi, the host's working set is ${hostMi.toFixed(0)} Mi:\n${top}`);
    // The agent's own node series say the same (the kubelet's /metrics/resource through the node proxy).
    const series = async (n: string) =>
      Number(
        /^node_memory_working_set_bytes (\d+(?:\.\d+)?(?:e\+\d+)?) \d+$/m.exec(await c.ok(['get', '--raw', `/api/v1/nodes/${n}/proxy/metrics/resource`]))?.[1],
      );
    const [sa, sb] = [await series(a), await series(b)];
    assert.ok(sa - sb >= 200 * 2 ** 20, `node_memory_working_set_bytes: ${a} ${sa}, ${b} ${sb}`);
    await c.ok(['delete', 'pod', 'hungry', '--wait=false']);
  });
});
