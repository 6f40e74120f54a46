// The node's DNS server on a thread of its own: the agent's main thread spawns processes and writes pod
// status, and a query must not wait behind that. The worker has its own API client and informers (so its
// zone, like the agent's caches, outlives an API-server outage) and tells the agent when it listens.
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { RestClient, type RestConfig } from '../client/rest.js';
import { DnsMetrics } from './metrics.js';
import { NodeDns } from './node.js';
import { distFile } from '../util/layout.js';
import { placeDnsThread } from './placement.js';
import type { Endpoint } from './server.js';

export interface DnsWorkerConfig {
  /** The CA as PEM text: a Buffer would arrive in the worker as a bare Uint8Array. */
  rest: RestConfig & { ca: string };
  listen: Endpoint[];
  domain: string;
  upstreams: string[];
  nameservers: string[];
  /** A v1 cpu cgroup this thread moves itself into before it listens (--dns-cgroup), when it is not made real-time. */
  cpuCgroup?: string;
  /** Try SCHED_RR first (--dns-realtime); the cgroup is the fallback where the host refuses it. */
  realtime?: boolean;
}

type Message = { type: 'listening'; addresses: Endpoint[]; placement: string } | { type: 'error'; message: string } | { type: 'metrics' };

/** Start the DNS worker; resolves once it listens (rejects with the worker's own error). */
export function startDnsWorker(cfg: DnsWorkerConfig, log: (line: string) => void): Promise<{ worker: Worker; addresses: Endpoint[] }> {
  const worker = new Worker(distFile('src/dns/worker.js'), { workerData: cfg, name: 'k8ts-dns' });
  return new Promise((resolve, reject) => {
    worker.once('error', reject);
    worker.once('exit', (code) => reject(new Error(`k8ts dns: the DNS worker exited (${code}) before listening`)));
    worker.on('message', (m: Message) => {
      if (m.type === 'listening') {
        log(`k8ts agent: the DNS thread ${m.placement}`);
        worker.removeAllListeners('exit');
        worker.on('exit', (code) => code !== 0 && log(`k8ts agent: the DNS worker exited with ${code}`));
        resolve({ worker, addresses: m.addresses });
      } else if (m.type === 'error') {
        // It could not listen: end the thread (its informers too) before the caller tries again.
        worker.removeAllListeners('exit');
        void worker.terminate().finally(() => reject(new Error(m.message)));
      }
    });
  });
}

if (!isMainThread && parentPort) {
  const cfg = workerData as DnsWorkerConfig;
  const placement = placeDnsThread(cfg);
  const client = new RestClient({ ...cfg.rest, userAgent: 'k8ts-dns' });
  const metrics = new DnsMetrics(cfg.domain);
  const dns = new NodeDns({
    client,
    listen: cfg.listen,
    upstreams: cfg.upstreams,
    zone: { domain: cfg.domain, nameservers: cfg.nameservers },
    observe: (o) => metrics.observe(o),
  });
  dns.start().then(
    (addresses) => parentPort!.postMessage({ type: 'listening', addresses, placement } satisfies Message),
    (e) => parentPort!.postMessage({ type: 'error', message: e instanceof Error ? e.message : String(e) } satisfies Message),
  );
  parentPort.on('message', (m) => {
    // The node's renewed client certificate.
    if (m && typeof m === 'object' && m.type === 'credentials') return client.setClientCertificate(m.cert, m.key);
    // A scrape of the agent's /metrics: this thread's series as JSON, merged into the agent's exposition.
    if (m && typeof m === 'object' && m.type === 'metrics') {
      return void metrics.registry.getMetricsAsJSON().then((json) => parentPort!.postMessage({ type: 'metrics', id: m.id, metrics: json }));
    }
    if (m === 'stop')
      void dns.stop().finally(() => {
        client.close();
        process.exit(0);
      });
  });
}
