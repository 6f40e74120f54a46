// Test helpers for the service controllers: a real API server on a memory store in a temp dir, a REST
// client to it, and pods that look as an agent leaves them (bound, with an IP and a Ready condition).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runServer, type RunningServer, type ServerOptions } from '../server/server.js';
import { RestClient, configFromKubeconfig } from '../client/rest.js';
import { PODS } from '../api/kinds.js';
import type { Pod } from '../api/types.js';

export { ENDPOINTS, ENDPOINTSLICES as SLICES, EVENTS, NODES, PODS, SERVICES } from '../api/kinds.js';

export { eventually, sleep } from '../testing/eventually.js';

export interface TestCluster {
  s: RunningServer;
  c: RestClient;
  close(): Promise<void>;
}

export async function startCluster(opts: Partial<ServerOptions> = {}): Promise<TestCluster> {
  const dir = mkdtempSync(join(tmpdir(), 'k8ts-svc-'));
  let s: RunningServer | undefined;
  try {
    s = await runServer({ dataDir: dir, store: 'memory', listen: [{ host: '127.0.0.1', port: 0 }], ...opts });
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
  const c = new RestClient(configFromKubeconfig(s.kubeconfigPath));
  return {
    s,
    c,
    async close() {
      c.close();
      await s!.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface PodSpec {
  labels?: Record<string, string>;
  ip: string;
  node?: string;
  ready?: boolean;
  ports?: { name?: string; containerPort: number; protocol?: string }[];
  hostname?: string;
  subdomain?: string;
}

/** Create a pod as the scheduler and an agent would leave it: bound, Running, with an IP and readiness. */
export async function makePod(c: RestClient, ns: string, name: string, p: PodSpec): Promise<Pod> {
  await c.create(PODS, ns, {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, labels: p.labels ?? {} },
    spec: { nodeName: p.node ?? 'n1', hostname: p.hostname, subdomain: p.subdomain, containers: [{ name: 'c', image: 'busybox', ports: p.ports ?? [] }] },
  });
  return setReady(c, ns, name, p.ready ?? true, p.ip);
}

export async function setReady(c: RestClient, ns: string, name: string, ready: boolean, ip?: string): Promise<Pod> {
  const status: Record<string, unknown> = {
    phase: 'Running',
    conditions: [
      { type: 'Ready', status: ready ? 'True' : 'False', lastProbeTime: null, lastTransitionTime: new Date().toISOString().replace(/\.\d+Z$/, 'Z') },
    ],
  };
  if (ip) Object.assign(status, { podIP: ip, podIPs: [{ ip }] });
  return c.patch(PODS, ns, name, 'merge', { status }, 'status');
}
