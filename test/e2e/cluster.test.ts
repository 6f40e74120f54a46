// A real cluster on this machine, driven by the real kubectl: pods on cbr0 in node namespaces, traffic on
// one node and across nodes (host-gw) without NAT, restarts of containers, agents and the server, bad
// input, and `k8ts down` leaving nothing behind. VXLAN and the reference CNI plugins are in
// cluster-modes.test.ts, the 300-pod churn in churn.test.ts: each file has its own time budget.
import { test, before, describe } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import http from 'node:http';
import { kubectlBinary } from './harness.js';
import { type Cluster, WEB, busybox, clusterFixture, nodeNetns, podIP, podNetnses, remoteAddr, sh, skip, sleep, until } from './clusterkit.js';
import type { PodList } from 'kubernetes-types/core/v1.js';

describe('a host-gw cluster with the real kubectl', { skip }, () => {
  const get = clusterFixture(`e2e${process.pid % 10000}`);
  let c: Cluster;
  before(() => (c = get()));

  test('pods reach each other on one node and across nodes, by ping and TCP, without NAT; nodes reach pods', async () => {
    await c.ok(['apply', '-f', '-'], busybox('a', 'node1', 'sleep 3600') + busybox('b', 'node2', WEB) + busybox('c', 'node1', WEB));
    await c.ok(['wait', '--for=condition=Ready', 'pod/a', 'pod/b', 'pod/c', '--timeout=60s']);
    const [a, b, cc] = [await podIP(c, 'a'), await podIP(c, 'b'), await podIP(c, 'c')];
    const cidr = async (n: string) => (await c.ok(['get', 'node', n, '-o', 'jsonpath={.spec.podCIDR}'])).trim();
    assert.equal(a.split('.').slice(0, 3).join('.'), (await cidr('node1')).split('.').slice(0, 3).join('.'));
    assert.equal(b.split('.').slice(0, 3).join('.'), (await cidr('node2')).split('.').slice(0, 3).join('.'));
    for (const ip of [b, cc]) assert.match(await c.ok(['exec', 'a', '--', 'ping', '-c', '2', '-W', '2', ip]), /2 packets received/);
    assert.match(await c.ok(['exec', 'b', '--', 'ping', '-c', '1', '-W', '2', a]), /1 packets received/);
    assert.equal((await c.ok(['exec', 'a', '--', 'wget', '-qO-', `http://${b}:8080/`])).trim(), 'hello-from-b');
    assert.equal((await c.ok(['exec', 'a', '--', 'wget', '-qO-', `http://${cc}:8080/`])).trim(), 'hello-from-c');
    // The server sees the client's own pod IP: no NAT between pods, on one node or across nodes.
    assert.equal(remoteAddr(await c.ok(['exec', 'a', '--', 'wget', '-qO-', `http://${b}:8080/cgi-bin/ip`])), a);
    assert.equal(remoteAddr(await c.ok(['exec', 'a', '--', 'wget', '-qO-', `http://${cc}:8080/cgi-bin/ip`])), a);
    // A node reaches pods on itself and on the other node, and the pod sees the node's address.
    const n1 = nodeNetns(c, 'node1');
    const viaNode = sh(['nsenter', `--net=/run/netns/${n1}`, 'busybox', 'wget', '-qO-', `http://${b}:8080/cgi-bin/ip`]);
    assert.equal(remoteAddr(viaNode.stdout), c.plan.nodes[0].ip, viaNode.stderr);
    assert.equal(sh(['nsenter', `--net=/run/netns/${n1}`, 'busybox', 'ping', '-c', '1', '-W', '2', cc]).code, 0);
  });

  test('logs, exec exit codes and stdin', async () => {
    await c.ok(['apply', '-f', '-'], busybox('talk', 'node2', 'echo started; echo to-stderr >&2; sleep 3600'));
    await c.ok(['wait', '--for=condition=Ready', 'pod/talk', '--timeout=60s']);
    for (let i = 0; i < 20 && !(await c.k(['logs', 'talk'])).stdout.includes('started'); i++) await sleep(100);
    const logs = await c.ok(['logs', 'talk']);
    assert.match(logs, /started/);
    assert.match(logs, /to-stderr/);
    const r = await c.k(['exec', 'talk', '--', 'sh', '-c', 'echo out; exit 7']);
    assert.equal(r.code, 7);
    assert.equal(r.stdout, 'out\n');
    assert.match(r.stderr, /command terminated with exit code 7/);
    assert.equal(await c.ok(['exec', '-i', 'talk', '--', 'cat'], 'through stdin\n'), 'through stdin\n');
  });

  test('port-forward reaches a pod port; exec -it gets a terminal', async () => {
    const child = spawn(kubectlBinary('1.32')!, ['port-forward', 'pod/b', ':8080'], {
      env: { PATH: process.env.PATH!, HOME: join(c.home, 'kubectl-home'), KUBECONFIG: c.kubeconfig },
    });
    try {
      const port = await new Promise<number>((resolve, reject) => {
        let out = '';
        const t = setTimeout(() => reject(new Error(`port-forward printed no port: ${out}`)), 30_000);
        child.stdout.on('data', (b: Buffer) => {
          out += b;
          const m = /Forwarding from 127\.0\.0\.1:(\d+) -> 8080/.exec(out);
          if (m) {
            clearTimeout(t);
            resolve(Number(m[1]));
          }
        });
      });
      for (let i = 0; i < 2; i++) {
        const body = await new Promise<string>((resolve, reject) => {
          http
            .get({ host: '127.0.0.1', port, path: '/' }, (res) => {
              let d = '';
              res.on('data', (x: Buffer) => (d += x));
              res.on('end', () => resolve(d));
            })
            .on('error', reject);
        });
        assert.equal(body.trim(), 'hello-from-b');
      }
    } finally {
      child.kill('SIGTERM');
    }
    const khome = join(c.home, 'kubectl-home');
    const tty = sh(['script', '-qfec', `${kubectlBinary('1.32')} exec -it talk -- sh -c 'tty; exit 5'`, '/dev/null'], {
      ...process.env,
      HOME: khome,
      KUBECONFIG: c.kubeconfig,
    });
    assert.match(tty.stdout, /\/dev\/pts\/\d+/);
    assert.equal(tty.code, 5, tty.stdout + tty.stderr);
  });

  test('a restarted container keeps its pod IP and counts the restart', async () => {
    await c.ok(['apply', '-f', '-'], busybox('crash', 'node1', 'sleep 1; exit 1'));
    const ip = await (async () => {
      for (let i = 0; i < 100; i++) {
        const v = (await c.k(['get', 'pod', 'crash', '-o', 'jsonpath={.status.podIP}'])).stdout.trim();
        if (v) return v;
        await sleep(100);
      }
      throw new Error('no IP');
    })();
    for (let i = 0; i < 100; i++) {
      const n = Number((await c.ok(['get', 'pod', 'crash', '-o', 'jsonpath={.status.containerStatuses[0].restartCount}'])).trim() || 0);
      if (n >= 1) break;
      await sleep(100);
    }
    const pod = JSON.parse(await c.ok(['get', 'pod', 'crash', '-o', 'json']));
    assert.ok(pod.status.containerStatuses[0].restartCount >= 1);
    assert.equal(pod.status.podIP, ip);
    assert.equal(pod.status.containerStatuses[0].lastState.terminated.exitCode, 1);
    await c.ok(['delete', 'pod', 'crash', '--grace-period=0', '--force']);
  });

  test('restarting an agent keeps every pod, IP and veth, with nothing duplicated', async () => {
    const before = (JSON.parse(await c.ok(['get', 'pods', '-o', 'json'])) as PodList).items.filter((p) => p.spec!.nodeName === 'node1');
    const n1 = nodeNetns(c, 'node1');
    const veths = () => sh(['ip', '-n', n1, '-o', 'link', 'show', 'master', 'cbr0']).stdout.trim().split('\n').filter(Boolean).length;
    // A pod force-deleted by the test before may still be being torn down: count once the node has settled.
    await until('one veth per pod on node1', async () => veths() === before.filter((p) => p.status!.podIP).length);
    const vethsBefore = veths();
    const rec = JSON.parse(readFileSync(join(c.home, c.name, 'pids', 'agent-node1.json'), 'utf8'));
    process.kill(rec.pid, 'SIGKILL');
    await sleep(300);
    const { startProcess } = await import('../../src/lab/procs.js');
    await startProcess(join(c.home, c.name), 'agent-node1', rec.argv, { netns: n1, cgroups: rec.cgroups });
    // The restarted agent is back once it serves exec again (its stream server is the last thing it starts).
    const a = await podIP(c, 'a');
    await until(
      'exec through the restarted agent',
      async () => /1 packets received/.test((await c.k(['exec', 'c', '--', 'ping', '-c', '1', '-W', '2', a])).stdout),
      60_000,
    );
    const after = (JSON.parse(await c.ok(['get', 'pods', '-o', 'json'])) as PodList).items.filter((p) => p.spec!.nodeName === 'node1');
    assert.deepEqual(
      after.map((p) => [p.metadata!.name, p.status!.podIP, p.status!.phase]).sort(),
      before.map((p) => [p.metadata!.name, p.status!.podIP, p.status!.phase]).sort(),
    );
    assert.equal(veths(), vethsBefore);
  });

  test('with the server down, pods keep running and traffic keeps flowing; after it restarts all is as before', async () => {
    const dir = join(c.home, c.name);
    const rec = JSON.parse(readFileSync(join(dir, 'pids', 'server.json'), 'utf8'));
    const b = await podIP(c, 'b');
    const podsBefore = (await c.ok(['get', 'pods', '-o', 'name'])).trim();
    process.kill(rec.pid, 'SIGKILL');
    await sleep(500);
    const aNetns = podNetnses(c);
    // Traffic between pods needs no control plane: from every pod netns, b's web server answers.
    let answered = 0;
    const tries: string[] = [];
    for (const ns of aNetns) {
      const r = sh(['nsenter', `--net=/run/netns/${ns}`, 'busybox', 'wget', '-qO-', `http://${b}:8080/`]);
      tries.push(`${ns}: ${r.code} ${r.stdout.trim()} ${r.stderr.trim()} ${r.error ?? ''}`);
      if (r.stdout.includes('hello-from-b')) answered++;
    }
    assert.ok(answered >= 2, `only ${answered} pods reached b while the server was down:\n${tries.join('\n')}`);
    const { startProcess } = await import('../../src/lab/procs.js');
    await startProcess(dir, 'server', rec.argv);
    for (let i = 0; i < 100 && (await c.k(['get', '--raw', '/readyz'])).code !== 0; i++) await sleep(100);
    assert.equal((await c.ok(['get', 'pods', '-o', 'name'])).trim(), podsBefore);
    // Pods still reach each other by their unchanged IPs once the control plane is back.
    let r = await c.k(['exec', 'a', '--', 'ping', '-c', '1', '-W', '2', b]);
    for (let i = 0; i < 20 && r.code !== 0; i++) {
      await sleep(250);
      r = await c.k(['exec', 'a', '--', 'ping', '-c', '1', '-W', '2', b]);
    }
    if (r.code !== 0) {
      const diag = [await c.k(['get', 'pods', '-o', 'wide']), await c.k(['describe', 'pod', 'b'])].map((x) => x.stdout).join('\n');
      const log = readFileSync(join(dir, 'logs', 'agent-node2.log'), 'utf8')
        .split('\n')
        .slice(-20)
        .join('\n');
      assert.fail(`after the server restart b did not answer: ${r.stderr}\n${diag}\n${log}`);
    }
  });

  test('kill -9 of the agent in the middle of pod creation leaks no IP, veth or namespace', async () => {
    const dir = join(c.home, c.name);
    const n1 = nodeNetns(c, 'node1');
    const many = Array.from({ length: 15 }, (_, i) => busybox(`burst-${i}`, 'node1', 'sleep 3600').replace('labels: {app: burst', 'labels: {app: burst'))
      .join('')
      .replace(/labels: \{app: burst-\d+\}/g, 'labels: {app: burst}');
    await c.ok(['apply', '-f', '-'], many);
    await sleep(400);
    const rec = JSON.parse(readFileSync(join(dir, 'pids', 'agent-node1.json'), 'utf8'));
    process.kill(rec.pid, 'SIGKILL');
    await sleep(200);
    const { startProcess } = await import('../../src/lab/procs.js');
    await startProcess(dir, 'agent-node1', rec.argv, { netns: n1, cgroups: rec.cgroups });
    await c.ok(['wait', '--for=condition=Ready', 'pod', '-l', 'app=burst', '--timeout=200s']);
    await c.ok(['delete', 'pod', '-l', 'app=burst', '--grace-period=1', '--timeout=200s']);
    await sleep(1500);
    const live = (JSON.parse(await c.ok(['get', 'pods', '-o', 'json'])) as PodList).items.filter((p) => p.spec!.nodeName === 'node1');
    const liveIPs = live.map((p) => p.status!.podIP).sort();
    const ipamDir = join(c.plan.nodes[0].dir, 'ipam', 'k8ts');
    const held = sh(['ls', ipamDir])
      .stdout.split('\n')
      .filter((f) => /^\d+\.\d+\.\d+\.\d+$/.test(f))
      .sort();
    assert.deepEqual(held, liveIPs, "IPs held by IPAM are exactly the live pods' IPs");
    const veths = sh(['ip', '-n', n1, '-o', 'link', 'show', 'master', 'cbr0']).stdout.trim().split('\n').filter(Boolean);
    assert.equal(veths.length, live.length, `veths on cbr0:\n${veths.join('\n')}`);
    const podNs = podNetnses(c);
    assert.equal(podNs.length, (JSON.parse(await c.ok(['get', 'pods', '-o', 'json'])) as PodList).items.filter((p) => p.status!.podIP).length);
  });

  test('bad input: unknown image, no node that fits, a command that does not exist', async () => {
    await c.ok(
      ['apply', '-f', '-'],
      `apiVersion: v1
kind: Pod
metadata: {name: badimage}
spec:
  containers: [{name: main, image: "nginx:1.27"}]
---
apiVersion: v1
kind: Pod
metadata: {name: nofit}
spec:
  nodeSelector: {disk: ssd}
  containers: [{name: main, image: busybox}]
---
apiVersion: v1
kind: Pod
metadata: {name: nocmd}
spec:
  containers: [{name: main, image: busybox, command: ["no-such-command"]}]
`,
    );
    const waitFor = async (what: string, f: () => Promise<boolean>) => {
      for (let i = 0; i < 150; i++) {
        if (await f()) return;
        await sleep(100);
      }
      assert.fail(`timed out waiting for ${what}`);
    };
    // No registry is reachable from this lab: the pull fails, then backs off, as the kubelet's.
    await waitFor('ErrImagePull or ImagePullBackOff', async () =>
      /^(ErrImagePull|ImagePullBackOff)$/.test(
        (await c.k(['get', 'pod', 'badimage', '-o', 'jsonpath={.status.containerStatuses[0].state.waiting.reason}'])).stdout,
      ),
    );
    const msg = await c.ok(['get', 'pod', 'badimage', '-o', 'jsonpath={.status.containerStatuses[0].state.waiting.message}']);
    assert.match(msg, /nginx:1\.27/);
    assert.match(await c.ok(['get', 'pods', 'badimage']), /ErrImagePull|ImagePullBackOff/);
    await waitFor('FailedScheduling', async () => (await c.k(['describe', 'pod', 'nofit'])).stdout.includes('FailedScheduling'));
    assert.match(await c.ok(['describe', 'pod', 'nofit']), /0\/2 nodes are available: 2 node\(s\) didn't match Pod's node affinity\/selector/);
    await waitFor('a reason for nocmd', async () => /no-such-command/.test((await c.k(['describe', 'pod', 'nocmd'])).stdout));
    assert.match(await c.ok(['describe', 'pod', 'nocmd']), /executable file not found|no-such-command/);
    // Nothing else broke: the earlier pods still talk.
    assert.match(await c.ok(['exec', 'a', '--', 'ping', '-c', '1', '-W', '2', await podIP(c, 'b')]), /1 packets received/);
    await c.ok(['delete', 'pod', 'badimage', 'nofit', 'nocmd', '--grace-period=0', '--force']);
  });
});
