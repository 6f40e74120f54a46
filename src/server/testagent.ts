// For tests: an agent's endpoint joined to a real control plane the way `k8ts agent` joins — a bootstrap
// token buys the node's client certificate, the node registers its own Node, asks for its serving
// certificate (approved by the real approver, signed by the real signer) and serves its stream server
// with it, authorizing callers through the API server — without the rest of an agent (no root needed).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { NODES, SECRETS } from '../api/kinds.js';
import type { Node, Secret } from '../api/types.js';
import { bootstrapTokenSecret, generateBootstrapToken } from '../api/bootstraptoken.js';
import { RestClient } from '../client/rest.js';
import { type NodeCredentials, ensureNodeCredentials, requestServingCredentials } from '../agent/identity.js';
import { CallerAuth } from '../agent/callerauth.js';
import { StreamServer, type StreamServerDeps } from '../agent/streamserver.js';
import type { RunningServer } from './server.js';

export interface TestAgent {
  name: string;
  streams: StreamServer;
  auth: CallerAuth;
  /** The node's own client (system:node:<name>). */
  client: RestClient;
  credentials: NodeCredentials;
  serving: NodeCredentials;
  close(): void;
}

export interface TestAgentOptions {
  name: string;
  /** Where the agent keeps its pki (DIR/<name>). */
  dir: string;
  deps: StreamServerDeps;
  /** The address the endpoint listens on and the Node lists (default 127.0.0.1). */
  ip?: string;
  labels?: Record<string, string>;
  /** The admin's client, to make the bootstrap token. */
  admin: RestClient;
}

export async function joinTestAgent(s: RunningServer, o: TestAgentOptions): Promise<TestAgent> {
  const ip = o.ip ?? '127.0.0.1';
  const ca = readFileSync(s.caPath, 'utf8');
  const dataDir = join(o.dir, o.name);
  const log = () => {};
  const t = generateBootstrapToken();
  await o.admin.create(SECRETS, 'kube-system', bootstrapTokenSecret(t, { ttlSeconds: 3600 }) as Secret);
  const credentials = await ensureNodeCredentials({ server: s.url, ca, nodeName: o.name, dataDir, bootstrapToken: t.token, log, timeoutMs: 30_000 });
  const client = new RestClient({ server: s.url, ca, cert: credentials.cert, key: credentials.key, userAgent: `k8ts-test-agent/${o.name}` });
  try {
    await client.create(NODES, undefined, { apiVersion: 'v1', kind: 'Node', metadata: { name: o.name, labels: o.labels ?? {} } } as Node);
    await client.patch(NODES, undefined, o.name, 'merge', { status: { addresses: [{ type: 'InternalIP', address: ip }] } }, 'status');
    const serving = await requestServingCredentials(client, {
      server: s.url,
      ca,
      nodeName: o.name,
      dataDir,
      log,
      timeoutMs: 30_000,
      names: { ips: [ip], dnsNames: [] },
    });
    const auth = new CallerAuth({ nodeName: o.name, post: (path, body) => client.postPath(path, body) });
    const streams = new StreamServer(o.deps, auth);
    await streams.start(dataDir, ip, { ca, cert: serving.cert, key: serving.key }, 0);
    await client.patch(NODES, undefined, o.name, 'merge', { status: { daemonEndpoints: { kubeletEndpoint: { Port: streams.port } } } }, 'status');
    return {
      name: o.name,
      streams,
      auth,
      client,
      credentials,
      serving,
      close: () => {
        streams.close();
        client.close();
      },
    };
  } catch (e) {
    client.close();
    throw e;
  }
}
