// Test and benchmark fixtures for the service proxy: a throwaway "node" namespace with a bridge and pod
// namespaces behind it, a "host" namespace on the node network, small servers that say who answered and
// who asked, and Service/EndpointSlice objects. Everything is named "k8tspx-…" and removed by cleanup().
import { randomBytes } from 'node:crypto';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { EndpointSlice, Service } from '../../api/types.js';
import { run, spawnProcess, type Spawned } from '../../util/exec.js';

export const IS_ROOT = process.getuid?.() === 0;
export const SKIP_NOT_ROOT = IS_ROOT ? false : 'needs root: creates network namespaces, bridges and nftables tables (run the tests as root)';

export const NODE_IP = '10.0.0.1';
export const HOST_IP = '10.0.0.2';
export const BRIDGE_IP = '10.244.0.1';

const nsPath = (name: string) => `/run/netns/${name}`;
const inNs = (ns: string, argv: string[]) => ['nsenter', `--net=${nsPath(ns)}`, '--', ...argv];

export interface Pod {
  name: string;
  ns: string;
  netns: string;
  ip: string;
}

export class ProxyLab {
  readonly tag = randomBytes(3).toString('hex');
  readonly node = `k8tspx-n${this.tag}`;
  readonly host = `k8tspx-h${this.tag}`;
  readonly dir = mkdtempSync(join(tmpdir(), 'k8tspx-'));
  readonly pods: Pod[] = [];
  private readonly namespaces: string[] = [];
  private readonly procs: Spawned[] = [];

  get nodeNetns(): string {
    return nsPath(this.node);
  }

  /** Node namespace (bridge cbr0 10.244.0.1/24, eth0 10.0.0.1/24 towards the host namespace, forwarding on). */
  async start(): Promise<this> {
    await this.addNs(this.node);
    await this.addNs(this.host);
    await run(['ip', '-n', this.node, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', this.host]);
    await batch(this.node, [
      'link set lo up',
      'link add cbr0 type bridge',
      `addr add ${BRIDGE_IP}/24 dev cbr0`,
      'link set cbr0 up',
      `addr add ${NODE_IP}/24 dev eth0`,
      'link set eth0 up',
    ]);
    await batch(this.host, [
      'link set lo up',
      `addr add ${HOST_IP}/24 dev eth0`,
      'link set eth0 up',
      `route add 10.244.0.0/16 via ${NODE_IP}`,
      `route add 10.96.0.0/12 via ${NODE_IP}`,
    ]);
    await run(inNs(this.node, ['sysctl', '-q', '-w', 'net.ipv4.ip_forward=1']));
    return this;
  }

  /** A pod on the node's bridge at 10.244.0.<n>, default route via the bridge. */
  async pod(n: number): Promise<Pod> {
    const name = `k8tspx-p${this.tag}${n}`;
    await this.addNs(name);
    const ip = `10.244.0.${n}`;
    await run(['ip', '-n', this.node, 'link', 'add', `veth${n}`, 'master', 'cbr0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', name]);
    // Hairpin on the bridge port, as the k8ts CNI plugin sets it (hairpinMode): with bridge netfilter a pod's
    // packet DNATed back to itself leaves through the port it came in by.
    await batch(this.node, [`link set veth${n} up`, `link set veth${n} type bridge_slave hairpin on`]);
    await batch(name, ['link set lo up', `addr add ${ip}/24 dev eth0`, 'link set eth0 up', `route add default via ${BRIDGE_IP}`]);
    const pod = { name: `pod${n}`, ns: name, netns: nsPath(name), ip };
    this.pods.push(pod);
    return pod;
  }

  /** busybox httpd on `port` whose /cgi-bin/id answers "<pod name> <client address>". */
  async http(pod: Pod, port = 8080): Promise<void> {
    const root = join(this.dir, `${pod.name}-${port}`);
    mkdirSync(join(root, 'cgi-bin'), { recursive: true });
    // busybox httpd reports IPv4 clients as [::ffff:a.b.c.d]; the answer carries the bare address.
    // ${…} in these lines is shell parameter expansion in the CGI script, not a template.
    const script = [
      '#!/bin/sh',
      // biome-ignore lint/suspicious/noTemplateCurlyInString: shell parameter expansion
      'a=${REMOTE_ADDR#\\[}',
      // biome-ignore lint/suspicious/noTemplateCurlyInString: shell parameter expansion
      'a=${a#::ffff:}',
      // biome-ignore lint/suspicious/noTemplateCurlyInString: shell parameter expansion
      'a=${a%]}',
      `printf 'Content-Type: text/plain\\r\\n\\r\\n%s %s\\n' '${pod.name}' "$a"`,
    ];
    writeFileSync(join(root, 'cgi-bin', 'id'), script.join('\n') + '\n');
    chmodSync(join(root, 'cgi-bin', 'id'), 0o755);
    this.spawn(inNs(pod.ns, ['busybox', 'httpd', '-f', '-p', String(port), '-h', root]));
    await waitFor(async () => (await httpGet(pod.ns, `http://${pod.ip}:${port}/cgi-bin/id`, 2000)).ok);
  }

  /** A UDP server on `port` answering every datagram with "<pod name> <client address>". */
  async udp(pod: Pod, port = 5353): Promise<void> {
    const src = `const s=require('dgram').createSocket('udp4');s.on('message',(m,r)=>s.send(${JSON.stringify(pod.name)}+' '+r.address,r.port,r.address));s.bind(${port});`;
    this.spawn(inNs(pod.ns, [process.execPath, '-e', src]));
    await waitFor(async () => (await udpAsk(pod.ns, pod.ip, port, 500)).ok);
  }

  private spawn(argv: string[]): void {
    const p = spawnProcess(argv, { stdio: ['ignore', 'ignore', 'ignore'] });
    this.procs.push(p);
  }

  private async addNs(name: string): Promise<void> {
    await run(['ip', 'netns', 'add', name]);
    this.namespaces.push(name);
  }

  async cleanup(): Promise<void> {
    for (const p of this.procs.splice(0)) {
      if (p.child.pid && p.child.exitCode === null) p.child.kill('SIGKILL');
      await p.exited.catch(() => undefined);
    }
    for (const n of this.namespaces.splice(0).reverse()) await run(['ip', 'netns', 'del', n]).catch(() => undefined);
    rmSync(this.dir, { recursive: true, force: true });
  }
}

async function batch(ns: string, cmds: string[]): Promise<void> {
  await run(['ip', '-n', ns, '-batch', '-'], { input: cmds.join('\n') + '\n' });
}

export async function waitFor(fn: () => Promise<boolean>, timeoutMs = 5000, everyMs = 50): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    if (await fn().catch(() => false)) return;
    if (Date.now() > end) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

export interface Answer {
  ok: boolean;
  body: string;
  error: string;
  ms: number;
}

/** One HTTP GET from inside a namespace with busybox wget (no -T here: the run timeout bounds it). */
export async function httpGet(ns: string, url: string, timeoutMs = 3000): Promise<Answer> {
  const t0 = Date.now();
  try {
    const { stdout } = await run(inNs(ns, ['busybox', 'wget', '-q', '-O', '-', url]), { timeoutMs });
    return { ok: true, body: stdout.trim(), error: '', ms: Date.now() - t0 };
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    return { ok: false, body: '', error: (err.stderr || err.message).trim(), ms: Date.now() - t0 };
  }
}

/** One UDP question from inside a namespace (node's dgram, from a fixed source port when given). */
export async function udpAsk(ns: string, ip: string, port: number, timeoutMs = 1000, srcPort = 0): Promise<Answer> {
  const src =
    `const s=require('dgram').createSocket('udp4');const t=setTimeout(()=>{process.stderr.write('timeout');process.exit(2)},${timeoutMs});` +
    `s.on('message',m=>{process.stdout.write(m);clearTimeout(t);s.close()});s.bind(${srcPort},()=>s.send('q',${port},${JSON.stringify(ip)}));`;
  const t0 = Date.now();
  try {
    const { stdout } = await run(inNs(ns, [process.execPath, '-e', src]), { timeoutMs: timeoutMs + 5000 });
    return { ok: true, body: stdout.trim(), error: '', ms: Date.now() - t0 };
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    return { ok: false, body: '', error: (err.stderr || err.message).trim(), ms: Date.now() - t0 };
  }
}

export interface SvcSpec {
  name: string;
  namespace?: string;
  clusterIP: string;
  ports: { name?: string; port: number; targetPort?: number; protocol?: string; nodePort?: number }[];
  type?: string;
  externalTrafficPolicy?: string;
  internalTrafficPolicy?: string;
  sessionAffinity?: { timeoutSeconds: number };
  externalIPs?: string[];
  loadBalancerIPs?: string[];
}

export function service(s: SvcSpec): Service {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: s.name, namespace: s.namespace ?? 'default' },
    spec: {
      type: s.type ?? 'ClusterIP',
      clusterIP: s.clusterIP,
      clusterIPs: [s.clusterIP],
      ports: s.ports.map((p) => ({ name: p.name, port: p.port, targetPort: p.targetPort ?? p.port, protocol: p.protocol ?? 'TCP', nodePort: p.nodePort })),
      externalTrafficPolicy: s.externalTrafficPolicy,
      internalTrafficPolicy: s.internalTrafficPolicy,
      externalIPs: s.externalIPs,
      ...(s.sessionAffinity
        ? { sessionAffinity: 'ClientIP', sessionAffinityConfig: { clientIP: { timeoutSeconds: s.sessionAffinity.timeoutSeconds } } }
        : { sessionAffinity: 'None' }),
    },
    status: s.loadBalancerIPs ? { loadBalancer: { ingress: s.loadBalancerIPs.map((ip) => ({ ip })) } } : {},
  };
}

export interface SliceEp {
  ip: string;
  node?: string;
  ready?: boolean;
  serving?: boolean;
  terminating?: boolean;
}

export function slice(
  svcName: string,
  ports: { name?: string; port: number; protocol?: string }[],
  eps: SliceEp[],
  name = `${svcName}-abc`,
  namespace = 'default',
): EndpointSlice {
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    addressType: 'IPv4',
    metadata: { name, namespace, labels: { 'kubernetes.io/service-name': svcName } },
    ports: ports.map((p) => ({ name: p.name ?? '', port: p.port, protocol: p.protocol ?? 'TCP' })),
    endpoints: eps.map((e) => ({
      addresses: [e.ip],
      nodeName: e.node,
      conditions: { ready: e.ready ?? true, serving: e.serving ?? e.ready ?? true, terminating: e.terminating ?? false },
    })),
  };
}
