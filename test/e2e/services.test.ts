// Services, the nftables proxy and cluster DNS on a real 2-node cluster, driven by the real kubectl, after
// the Kubernetes sig-network conformance cases: a basic endpoint, multiport, the same port over TCP and UDP,
// NodePort from the host and from pods, a LoadBalancer IP from the host, session affinity, type changes,
// endpoints following pods that go away or turn unready, DNS for services, headless services and pod
// hostnames, ExternalName and partial names, and the proxy restarted with traffic flowing.
import { test, before, describe } from 'node:test';
import assert from 'node:assert/strict';
import type { Endpoints, Service } from 'kubernetes-types/core/v1.js';
import type { EndpointSliceList } from 'kubernetes-types/discovery/v1.js';
import http from 'node:http';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { REALTIME_DNS_NODE_FLAGS } from '../../src/dns/placement.js';
import { listProcesses } from '../../src/lab/procs.js';
import {
  type Cluster,
  clusterFixture,
  nodeNetns,
  type PlacedPod,
  podIP,
  podNetnsOf,
  remoteAddr,
  restartLabProcess,
  sh,
  skip,
  sleep,
  until,
} from './clusterkit.js';
import { must } from '../../src/testing/must.js';
import { SCHED_RR, nonDefaultThreads } from '../../src/testing/sched.js';

interface PodSpec {
  name: string;
  node: string;
  labels?: Record<string, string>;
  command: string;
  ports?: { name: string; containerPort: number }[];
  readiness?: string;
  hostname?: string;
  subdomain?: string;
}

function pod(p: PodSpec): string {
  const labels = p.labels ?? { app: p.name };
  return `apiVersion: v1
kind: Pod
metadata:
  name: ${p.name}
  labels: ${JSON.stringify(labels)}
spec:
  nodeSelector: {kubernetes.io/hostname: ${p.node}}
  terminationGracePeriodSeconds: 1${p.hostname ? `\n  hostname: ${p.hostname}` : ''}${p.subdomain ? `\n  subdomain: ${p.subdomain}` : ''}
  containers:
  - name: main
    image: busybox
    command: ["sh", "-c", ${JSON.stringify(p.command)}]${p.ports ? `\n    ports: ${JSON.stringify(p.ports)}` : ''}${
      p.readiness
        ? `
    readinessProbe:
      exec: {command: ["sh", "-c", ${JSON.stringify(p.readiness)}]}
      periodSeconds: 1
      failureThreshold: 1`
        : ''
    }
---
`;
}

/** Two web servers: 8080 (named http) and 8081 (named alt), each page naming the pod; /cgi-bin/ip echoes the client. */
const WEB2 =
  'mkdir -p /www/cgi-bin && echo hello-from-$HOSTNAME > /www/index.html && printf "#!/bin/sh\\necho Content-Type: text/plain\\necho\\necho \\$REMOTE_ADDR\\n" > /www/cgi-bin/ip && chmod +x /www/cgi-bin/ip && httpd -p 8081 -h /www && exec httpd -f -p 8080 -h /www';
const WEB_PORTS = [
  { name: 'http', containerPort: 8080 },
  { name: 'alt', containerPort: 8081 },
];

function service(name: string, spec: Record<string, unknown>): string {
  // JSON is YAML; the comment keeps kubectl from reading the whole stream as one JSON document.
  return `# service ${name}\n${JSON.stringify({ apiVersion: 'v1', kind: 'Service', metadata: { name }, spec })}\n---\n`;
}

/** Run a command without blocking the event loop; its exit code and output. */
function spawnText(argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(argv[0], argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => (stdout += b));
    child.stderr.on('data', (b: Buffer) => (stderr += b));
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

/** GET from the test process (the host). */
function hostGet(host: string, port: number, path = '/'): Promise<string> {
  return new Promise((resolve, reject) => {
    // busybox httpd passes CGI headers through with bare LFs, which Node's strict parser refuses.
    const req = http.get({ host, port, path, timeout: 3000, insecureHTTPParser: true }, (res) => {
      let d = '';
      res.on('data', (x: Buffer) => (d += x));
      res.on('end', () => resolve(d.trim()));
    });
    req.on('timeout', () => req.destroy(new Error(`GET http://${host}:${port}${path}: timed out`)));
    req.on('error', reject);
  });
}

describe('services, the nftables proxy and cluster DNS with the real kubectl', { skip }, () => {
  const get = clusterFixture(`sv${process.pid % 10000}`);
  let c: Cluster;
  const wget = async (from: string, url: string) => (await c.ok(['exec', from, '--', 'wget', '-qO-', url])).trim();
  /** kubectl's `-o json` answer, as the kind the caller names (unchecked: the assertions on it are the check). */
  const json = async <T>(args: string[]): Promise<T> => JSON.parse(await c.ok([...args, '-o', 'json']));
  const clusterIP = async (svc: string) => (await c.ok(['get', 'svc', svc, '-o', 'jsonpath={.spec.clusterIP}'])).trim();
  const slicesOf = async (svc: string) => (await json<EndpointSliceList>(['get', 'endpointslices', '-l', `kubernetes.io/service-name=${svc}`])).items;
  const readyEndpoints = async (svc: string) =>
    (await slicesOf(svc))
      .flatMap((s) => s.endpoints ?? [])
      .filter((e) => e.conditions?.ready)
      .map((e) => e.addresses[0])
      .sort();
  /** Responders seen over n requests from a pod. */
  const responders = async (from: string, url: string, n: number) => {
    const out = await c.ok(['exec', from, '--', 'sh', '-c', `for i in $(seq 1 ${n}); do wget -qO- ${url}; done`]);
    return new Set(out.trim().split('\n'));
  };
  const nslookup = async (from: string, name: string, type = 'a') => c.k(['exec', from, '--', 'nslookup', `-type=${type}`, name]);

  before(async () => {
    c = get();
    await c.ok(
      ['apply', '-f', '-'],
      pod({ name: 'web1', node: 'node1', labels: { app: 'web' }, command: WEB2, ports: WEB_PORTS }) +
        pod({ name: 'web2', node: 'node2', labels: { app: 'web' }, command: WEB2, ports: WEB_PORTS }) +
        pod({ name: 'client', node: 'node1', command: 'sleep 3600' }) +
        pod({ name: 'client2', node: 'node2', command: 'sleep 3600' }) +
        service('web', { selector: { app: 'web' }, ports: [{ name: 'http', port: 80, targetPort: 'http' }] }),
    );
    await c.ok(['wait', '--for=condition=Ready', 'pod/web1', 'pod/web2', 'pod/client', 'pod/client2', '--timeout=60s']);
  });

  test('a basic endpoint: the ClusterIP reaches every ready pod, from pods and nodes, keeping the client address', async () => {
    const ip = await clusterIP('web');
    assert.ok(ip.startsWith(c.plan.serviceCIDR.split('.').slice(0, 2).join('.')), `${ip} is not in ${c.plan.serviceCIDR}`);
    const pods = [await podIP(c, 'web1'), await podIP(c, 'web2')].sort();
    await until('two ready endpoints in the EndpointSlice', async () => JSON.stringify(await readyEndpoints('web')) === JSON.stringify(pods));
    const ep = await json<Endpoints>(['get', 'endpoints', 'web']);
    assert.deepEqual(ep.subsets![0].addresses!.map((a) => a.ip).sort(), pods, 'the v1 Endpoints object too');
    assert.deepEqual(ep.subsets![0].ports, [{ name: 'http', port: 8080, protocol: 'TCP' }]);
    await until('both pods answering through the ClusterIP', async () => (await responders('client', `http://${ip}/`, 10)).size === 2);
    // No NAT between a pod and a service's pods, on this node and across nodes.
    const client = await podIP(c, 'client');
    for (let i = 0; i < 6; i++) assert.equal(remoteAddr(await wget('client', `http://${ip}/cgi-bin/ip`)), client);
    // From a node's own namespace too.
    const r = sh(['nsenter', `--net=/run/netns/${nodeNetns(c, 'node2')}`, 'busybox', 'wget', '-qO-', `http://${ip}/`]);
    assert.match(r.stdout, /hello-from-web[12]/, r.stderr);
  });

  test('multiport endpoints, named and numeric target ports', async () => {
    await c.ok(
      ['apply', '-f', '-'],
      service('multi', {
        selector: { app: 'web' },
        ports: [
          { name: 'http', port: 80, targetPort: 'http' },
          { name: 'alt', port: 81, targetPort: 8081 },
        ],
      }),
    );
    const ip = await clusterIP('multi');
    await until('multi endpoints', async () => (await readyEndpoints('multi')).length === 2);
    const [slice] = await slicesOf('multi');
    assert.deepEqual(slice.ports!.map((p) => [p.name, p.port, p.protocol]).sort(), [
      ['alt', 8081, 'TCP'],
      ['http', 8080, 'TCP'],
    ]);
    assert.match(await wget('client', `http://${ip}:80/`), /hello-from-web/);
    assert.match(await wget('client', `http://${ip}:81/`), /hello-from-web/);
  });

  test("the same port over TCP and UDP (kube-dns, and a service of the user's own with hand-made endpoints)", async () => {
    const dns = c.plan.dnsServiceIP;
    const kubeDns = await json<Service>(['get', 'svc', 'kube-dns', '-n', 'kube-system']);
    assert.equal(kubeDns.spec!.clusterIP, dns);
    assert.deepEqual(kubeDns.spec!.ports!.map((p) => `${p.port}/${p.protocol}`).sort(), ['53/TCP', '53/UDP']);
    // A selectorless service whose endpoints are the nodes' DNS servers, both protocols on one port.
    const nodeIPs = c.plan.nodes.map((n) => n.ip);
    await c.ok(
      ['apply', '-f', '-'],
      service('both', {
        ports: [
          { name: 'u', port: 5353, protocol: 'UDP', targetPort: 53 },
          { name: 't', port: 5353, protocol: 'TCP', targetPort: 53 },
        ],
      }) +
        `# its endpoints\n${JSON.stringify({
          apiVersion: 'discovery.k8s.io/v1',
          kind: 'EndpointSlice',
          metadata: { name: 'both-1', labels: { 'kubernetes.io/service-name': 'both' } },
          addressType: 'IPv4',
          ports: [
            { name: 'u', port: 53, protocol: 'UDP' },
            { name: 't', port: 53, protocol: 'TCP' },
          ],
          endpoints: nodeIPs.map((a: string, i: number) => ({ addresses: [a], nodeName: `node${i + 1}`, conditions: { ready: true } })),
        })}\n`,
    );
    const ip = await clusterIP('both');
    await until('an answer over UDP through the service', async () => {
      const r = await c.k(['exec', 'client', '--', 'nslookup', 'web.default.svc.cluster.local', `${ip}:5353`]);
      return r.code === 0 && r.stdout.includes(await clusterIP('web'));
    });
    // TCP: a DNS query framed with its length, answered through the same service port.
    const q =
      '\\000\\057\\000\\001\\001\\000\\000\\001\\000\\000\\000\\000\\000\\000\\003web\\007default\\003svc\\007cluster\\005local\\000\\000\\001\\000\\001';
    const tcp = await c.ok(['exec', 'client', '--', 'sh', '-c', `printf '${q}' | nc -w 2 ${ip} 5353 | wc -c`]);
    assert.ok(Number(tcp.trim()) > 40, `a TCP answer of ${tcp.trim()} bytes`);
  });

  test('NodePort from the host and from pods; externalTrafficPolicy Local keeps the client address', async () => {
    await c.ok(['apply', '-f', '-'], service('np', { type: 'NodePort', selector: { app: 'web' }, ports: [{ port: 80, targetPort: 8080 }] }));
    const port = Number(await c.ok(['get', 'svc', 'np', '-o', 'jsonpath={.spec.ports[0].nodePort}']));
    assert.ok(port >= 30000 && port <= 32767, `nodePort ${port}`);
    await until('np endpoints', async () => (await readyEndpoints('np')).length === 2);
    for (const n of c.plan.nodes) {
      await until(`NodePort on ${n.name} from the host`, async () => /hello-from-web/.test(await hostGet(n.ip, port)));
      assert.match(await wget('client2', `http://${n.ip}:${port}/`), /hello-from-web/);
    }
    await c.ok(['patch', 'svc', 'np', '-p', '{"spec":{"externalTrafficPolicy":"Local"}}']);
    const n1 = c.plan.nodes[0].ip;
    await until('only the local pod answers on node1', async () => {
      const seen = new Set<string>();
      for (let i = 0; i < 8; i++) seen.add(await hostGet(n1, port));
      return seen.size === 1 && seen.has('hello-from-web1');
    });
    assert.equal(remoteAddr(await hostGet(n1, port, '/cgi-bin/ip')), c.plan.hostIP, "the client's own address reaches the pod");
  });

  test('a LoadBalancer IP from the host, announced by one node', async () => {
    await c.ok(['apply', '-f', '-'], service('lb', { type: 'LoadBalancer', selector: { app: 'web' }, ports: [{ port: 80, targetPort: 8080 }] }));
    const ip = await until('an ingress IP', async () => (await c.ok(['get', 'svc', 'lb', '-o', 'jsonpath={.status.loadBalancer.ingress[0].ip}'])).trim());
    const [lo, hi] = [c.plan.lbPool.first, c.plan.lbPool.last].map((a: string) => Number(a.split('.')[3]));
    const last = Number(ip.split('.')[3]);
    assert.ok(last >= lo && last <= hi, `${ip} is not in the pool ${c.plan.lbPool.first}-${c.plan.lbPool.last}`);
    assert.match(await c.ok(['get', 'svc', 'lb']), new RegExp(ip.replace(/\./g, '\\.')));
    await until('the LB IP answering the host', async () => /hello-from-web/.test(await hostGet(ip, 80)));
    const holders = c.plan.nodes.filter((n) => sh(['ip', '-n', n.netns, '-o', 'addr', 'show']).stdout.includes(` ${ip}/32 `));
    assert.equal(holders.length, 1, 'exactly one node holds the IP');
  });

  test('another node takes the LoadBalancer IP over when its holder goes NotReady', async () => {
    const ip = (await c.ok(['get', 'svc', 'lb', '-o', 'jsonpath={.status.loadBalancer.ingress[0].ip}'])).trim();
    const holding = () => c.plan.nodes.filter((n) => sh(['ip', '-n', n.netns, '-o', 'addr', 'show']).stdout.includes(` ${ip}/32 `)).map((n) => n.name);
    const [owner] = holding();
    const other = must(
      c.plan.nodes.find((n) => n.name !== owner),
      'another node',
    ).name;
    // The owner's agent dies (its address stays in the node, as after a crash); the lease runs out, the node
    // goes NotReady, and the other node takes the IP with a gratuitous ARP that moves the host's neighbour entry.
    await restartLabProcess(c, `agent-${owner}`, async () => {
      await until(
        `${owner} NotReady`,
        async () => /Unknown|False/.test(await c.ok(['get', 'node', owner, '-o', 'jsonpath={.status.conditions[?(@.type=="Ready")].status}'])),
        90_000,
      );
      await until(`${other} holding ${ip}`, async () => holding().includes(other), 20_000);
      await until('the LB IP answering the host through the new holder', async () => /hello-from-web/.test(await hostGet(ip, 80)));
    });
    // Back to one holder once the first node is Ready again.
    await until('exactly one holder again', async () => holding().length === 1, 60_000);
    await until('the LB IP answering the host', async () => /hello-from-web/.test(await hostGet(ip, 80)));
  });

  test('session affinity ClientIP sends one client to one pod', async () => {
    await c.ok(['apply', '-f', '-'], service('sticky', { selector: { app: 'web' }, sessionAffinity: 'ClientIP', ports: [{ port: 80, targetPort: 8080 }] }));
    const ip = await clusterIP('sticky');
    await until('sticky endpoints', async () => (await readyEndpoints('sticky')).length === 2);
    await until('sticky answering', async () => /hello/.test(await wget('client', `http://${ip}/`)));
    assert.equal((await responders('client', `http://${ip}/`, 12)).size, 1);
    assert.equal((await responders('client2', `http://${ip}/`, 12)).size, 1);
  });

  test('type changes: ClusterIP → ExternalName → NodePort → ClusterIP', async () => {
    await c.ok(['apply', '-f', '-'], service('flip', { selector: { app: 'web' }, ports: [{ port: 80, targetPort: 8080 }] }));
    const first = await clusterIP('flip');
    await c.ok([
      'patch',
      'svc',
      'flip',
      '--type=merge',
      '-p',
      JSON.stringify({ spec: { type: 'ExternalName', externalName: 'web.default.svc.cluster.local', clusterIP: null, clusterIPs: null, selector: null } }),
    ]);
    assert.equal(await clusterIP('flip'), '');
    await until('flip as a CNAME', async () =>
      /canonical name = web\.default\.svc\.cluster\.local/.test((await nslookup('client', 'flip.default.svc.cluster.local')).stdout),
    );
    await c.ok(['patch', 'svc', 'flip', '--type=merge', '-p', JSON.stringify({ spec: { type: 'NodePort', externalName: null, selector: { app: 'web' } } })]);
    const ip = await clusterIP('flip');
    assert.ok(ip && ip !== 'None');
    const port = Number(await c.ok(['get', 'svc', 'flip', '-o', 'jsonpath={.spec.ports[0].nodePort}']));
    await until('flip as a NodePort from the host', async () => /hello-from-web/.test(await hostGet(c.plan.nodes[1].ip, port)));
    await c.ok([
      'patch',
      'svc',
      'flip',
      '--type=json',
      '-p',
      '[{"op":"replace","path":"/spec/type","value":"ClusterIP"},{"op":"remove","path":"/spec/ports/0/nodePort"}]',
    ]);
    assert.equal(await c.ok(['get', 'svc', 'flip', '-o', 'jsonpath={.spec.ports[0].nodePort}']), '');
    await until(
      'the NodePort closed',
      async () =>
        await hostGet(c.plan.nodes[1].ip, port).then(
          () => false,
          () => true,
        ),
    );
    void first;
  });

  test('endpoints follow pods that turn unready or are deleted; no endpoints → refused at once', async () => {
    const cmd = `touch /tmp/ready && ${WEB2}`;
    await c.ok(
      ['apply', '-f', '-'],
      pod({ name: 'rd1', node: 'node1', labels: { app: 'rd' }, command: cmd, ports: WEB_PORTS, readiness: 'test -f /tmp/ready' }) +
        pod({ name: 'rd2', node: 'node2', labels: { app: 'rd' }, command: cmd, ports: WEB_PORTS, readiness: 'test -f /tmp/ready' }) +
        service('rd', { selector: { app: 'rd' }, ports: [{ port: 80, targetPort: 'http' }] }),
    );
    await c.ok(['wait', '--for=condition=Ready', 'pod/rd1', 'pod/rd2', '--timeout=60s']);
    const ip = await clusterIP('rd');
    const [ip1, ip2] = [await podIP(c, 'rd1'), await podIP(c, 'rd2')];
    await until('both rd endpoints ready', async () => (await readyEndpoints('rd')).length === 2);
    await c.ok(['exec', 'rd1', '--', 'rm', '/tmp/ready']);
    await until('rd1 not ready in the slice', async () => JSON.stringify(await readyEndpoints('rd')) === JSON.stringify([ip2]));
    const ep1 = (await slicesOf('rd')).flatMap((s) => s.endpoints!).find((e) => e.addresses[0] === ip1);
    assert.equal(ep1!.conditions!.ready, false);
    assert.match(await c.ok(['get', 'pod', 'rd1']), /0\/1/);
    await until('only rd2 answering', async () => {
      const seen = await responders('client', `http://${ip}/`, 8);
      return seen.size === 1 && seen.has('hello-from-rd2');
    });
    await c.ok(['delete', 'pod', 'rd2', '--wait=true']);
    await until('no ready endpoints', async () => (await readyEndpoints('rd')).length === 0);
    await c.ok(['delete', 'pod', 'rd1', '--wait=true']);
    await until('no endpoints at all', async () => (await slicesOf('rd')).every((s) => !(s.endpoints ?? []).length));
    await until('a refusal, not a timeout', async () => {
      const t0 = Date.now();
      const r = await c.k(['exec', 'client', '--', 'wget', '-qO-', `http://${ip}/`]);
      return r.code !== 0 && /refused/i.test(r.stderr) && Date.now() - t0 < 2000;
    });
  });

  test("each node's DNS thread is real-time as k8ts up places it, and no other thread of its agent is", async () => {
    const agents = (await listProcesses(c.plan.dir)).filter((p) => p.role.startsWith('agent-'));
    assert.equal(agents.length, c.plan.nodes.length);
    for (const a of agents) {
      // The agents run V8's collector on the collecting thread (REALTIME_DNS_NODE_FLAGS).
      const argv = readFileSync(`/proc/${a.pid}/cmdline`, 'utf8').split('\0');
      for (const f of REALTIME_DNS_NODE_FLAGS) assert.ok(argv.includes(f), `${a.role} runs without ${f}: ${argv.join(' ')}`);
      const rt = nonDefaultThreads(a.pid);
      const log = readFileSync(a.log, 'utf8');
      assert.match(log, /the DNS thread runs SCHED_RR at priority 1\n/, `${a.role}'s log`);
      assert.equal(rt.length, 1, `${a.role}: real-time threads ${JSON.stringify(rt)}`);
      assert.deepEqual({ policy: rt[0].policy, priority: rt[0].priority }, { policy: SCHED_RR, priority: 1 });
    }
  });

  test('DNS: services, partial names, SRV, headless services, pod hostnames, ExternalName, NXDOMAIN, PTR', async () => {
    await c.ok(
      ['apply', '-f', '-'],
      service('hl', { clusterIP: 'None', selector: { app: 'hl' }, ports: [{ name: 'http', port: 80, targetPort: 8080 }] }) +
        service('ext', { type: 'ExternalName', externalName: 'web.default.svc.cluster.local' }) +
        pod({ name: 'hl1', node: 'node1', labels: { app: 'hl' }, command: WEB2, hostname: 'h1', subdomain: 'hl' }) +
        pod({ name: 'hl2', node: 'node2', labels: { app: 'hl' }, command: WEB2 }),
    );
    await c.ok(['wait', '--for=condition=Ready', 'pod/hl1', 'pod/hl2', '--timeout=60s']);
    const web = await clusterIP('web');
    const r = await nslookup('client', 'web.default.svc.cluster.local');
    assert.match(r.stdout, new RegExp(`Address: ${web.replace(/\./g, '\\.')}`), r.stdout + r.stderr);
    // The search path completes partial names: svc and svc.ns.
    assert.match(await wget('client', 'http://web/'), /hello-from-web/);
    assert.match(await wget('client2', 'http://web.default/'), /hello-from-web/);
    const srv = await nslookup('client', '_http._tcp.web.default.svc.cluster.local', 'srv');
    assert.match(srv.stdout, /web\.default\.svc\.cluster\.local/, srv.stdout + srv.stderr);
    const [h1, h2] = [await podIP(c, 'hl1'), await podIP(c, 'hl2')];
    await until('both headless records', async () => {
      const out = (await nslookup('client', 'hl.default.svc.cluster.local')).stdout;
      return out.includes(h1) && out.includes(h2);
    });
    await until('the pod hostname record', async () => (await nslookup('client2', 'h1.hl.default.svc.cluster.local')).stdout.includes(h1));
    assert.match(await c.ok(['exec', 'hl1', '--', 'hostname']), /^h1$/m);
    assert.match((await nslookup('client', 'ext.default.svc.cluster.local')).stdout, /canonical name = web\.default\.svc\.cluster\.local/);
    const nx = await nslookup('client', 'nope.default.svc.cluster.local');
    assert.notEqual(nx.code, 0);
    assert.match(nx.stdout + nx.stderr, /NXDOMAIN/);
    const ptr = await nslookup('client', `${web.split('.').reverse().join('.')}.in-addr.arpa`, 'ptr');
    assert.match(ptr.stdout, /web\.default\.svc\.cluster\.local/, ptr.stdout + ptr.stderr);
    // A name outside the cluster with no upstream configured fails fast.
    const t0 = Date.now();
    const out = await nslookup('client', 'example.com');
    assert.notEqual(out.code, 0);
    assert.ok(Date.now() - t0 < 3000, `took ${Date.now() - t0} ms`);
  });

  test('the kubernetes service points at the API server', async () => {
    const svc = await json<Service>(['get', 'svc', 'kubernetes']);
    const first = c.plan.kubernetesServiceIP;
    assert.equal(svc.spec!.clusterIP, first);
    assert.deepEqual(
      svc.spec!.ports!.map((p) => [p.name, p.port]),
      [['https', 443]],
    );
    const out = await c.ok(['exec', 'client', '--', 'sh', '-c', `nc -w 2 ${first} 443 </dev/null && echo open`]);
    assert.match(out, /open/);
  });

  test('DNS keeps answering while the API server is down; the proxy restarted with traffic flowing loses nothing', async () => {
    const web = await clusterIP('web');
    const clientNetns = podNetnsOf(c, await json<PlacedPod>(['get', 'pod', 'client']));
    await restartLabProcess(c, 'server', async () => {
      const r = sh(['nsenter', `--net=/run/netns/${clientNetns}`, 'busybox', 'nslookup', 'web.default.svc.cluster.local', c.plan.dnsServiceIP]);
      assert.match(r.stdout, new RegExp(web.replace(/\./g, '\\.')), `${r.stdout}${r.stderr}${r.error ?? ''}`);
    });
    await until('the API server back', async () => (await c.k(['get', '--raw', '/readyz'])).code === 0);
    // Requests through the ClusterIP from inside the client pod (entered directly, so the stream does not
    // pass through the agent) while node1's agent, and so its proxy, is killed and started again.
    const loop = spawnText([
      'nsenter',
      `--net=/run/netns/${clientNetns}`,
      'busybox',
      'sh',
      '-c',
      `ok=0; bad=0; for i in $(seq 1 60); do if busybox wget -qO- http://${web}/ >/dev/null; then ok=$((ok+1)); else bad=$((bad+1)); fi; sleep 0.1; done; echo ok=$ok bad=$bad`,
    ]);
    await sleep(1000);
    await restartLabProcess(c, 'agent-node1', async () => void (await sleep(1000)));
    const r = await loop;
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /ok=60 bad=0/);
  });

  test('bad input: invalid service specs get 422 naming the field', async () => {
    const bad = async (spec: Record<string, unknown>, want: RegExp) => {
      const r = await c.k(['apply', '-f', '-'], service('bad', spec));
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, want);
    };
    await bad({ ports: [{ port: 70000 }] }, /spec\.ports\[0\]\.port: Invalid value: 70000/);
    await bad({ type: 'Bogus', ports: [{ port: 80 }] }, /spec\.type: Unsupported value: "Bogus"/);
    await bad({ selector: { 'bad key!': 'x' }, ports: [{ port: 80 }] }, /spec\.selector/);
    // Kubernetes (1.32) names the whole list: spec.clusterIPs: Invalid value: []string{"192.0.2.5"}: failed to allocate IP ...
    await bad(
      { clusterIP: '192.0.2.5', ports: [{ port: 80 }] },
      /spec\.clusterIPs: Invalid value: \[\]string\{"192\.0\.2\.5"\}: failed to allocate IP 192\.0\.2\.5: .*not in the valid range/,
    );
    await bad({ clusterIP: await clusterIP('web'), ports: [{ port: 80 }] }, /already allocated/);
    await bad({ type: 'NodePort', ports: [{ port: 80, nodePort: 80 }] }, /spec\.ports\[0\]\.nodePort: Invalid value: 80: .*not in the valid range/);
    assert.equal((await c.k(['get', 'svc', 'bad'])).code, 1, 'nothing stored');
  });
});
