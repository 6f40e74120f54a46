// The ui server against a real API server: a node's kernel facts are asked through the node proxy only
// when an agent registered the node (its status publishes a kubelet endpoint); a Node with no agent
// behind it costs the API server no request, and the page still gets a facts entry saying why.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NODES } from '../api/kinds.js';
import type { Node } from '../api/types.js';
import { configFromKubeconfig, RestClient } from '../client/rest.js';
import { type RunningServer, runServer } from '../server/server.js';
import { eventually } from '../testing/eventually.js';
import { parseExposition, sumOf } from '../util/promtext.js';
import { UiServer } from './server.js';

let dir: string;
let s: RunningServer;
let c: RestClient;
let ui: UiServer | undefined;

/** A loopback port no one listens on: bound, then released. */
async function closedPort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  const { port } = srv.address() as { port: number };
  await new Promise((r) => srv.close(r));
  return port;
}

async function node(name: string, status: Node['status']): Promise<void> {
  await c.create(NODES, undefined, { apiVersion: 'v1', kind: 'Node', metadata: { name }, spec: { podCIDR: '10.250.1.0/24' } } as Node);
  await c.patch(NODES, undefined, name, 'merge', { status }, 'status');
}

/** The node proxy requests the API server has answered. */
async function proxyRequests(): Promise<number> {
  const e = parseExposition(await c.getPath<string>('/metrics'));
  return sumOf(e, 'apiserver_request_total', { resource: 'nodes', subresource: 'proxy' });
}

/** The facts entries of a page's first message (the snapshot). */
async function snapshotFacts(url: string): Promise<{ node: string; ok: boolean; error?: string }[]> {
  const ac = new AbortController();
  const r = await fetch(`${url}events`, { signal: ac.signal });
  const reader = r.body!.getReader();
  let text = '';
  while (!text.includes('\n\n')) text += Buffer.from((await reader.read()).value ?? []).toString();
  ac.abort();
  return (JSON.parse(text.slice(text.indexOf('data: ') + 6, text.indexOf('\n\n'))) as { facts: { node: string; ok: boolean; error?: string }[] }).facts;
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'k8ts-ui-'));
  s = await runServer({ dataDir: dir, store: 'memory', listen: [{ host: '127.0.0.1', port: 0 }], log: () => {} });
  c = new RestClient(configFromKubeconfig(s.kubeconfigPath));
});

after(async () => {
  await ui?.close();
  c?.close();
  await s?.close();
  rmSync(dir, { recursive: true, force: true });
});

test('kernel facts are asked only of nodes an agent registered: a bare Node costs the API server no proxy request', async () => {
  const addresses = [{ type: 'InternalIP', address: '127.0.0.1' }];
  await node('bare', { addresses });
  await node('agent', { addresses, daemonEndpoints: { kubeletEndpoint: { Port: await closedPort() } } });
  const before = await proxyRequests();
  ui = new UiServer({ config: configFromKubeconfig(s.kubeconfigPath), port: 0, log: () => {} });
  const url = await ui.start();
  const facts = await eventually('both nodes have a facts entry', async () => {
    const f = await snapshotFacts(url);
    return f.length === 2 && f;
  });
  const bare = facts.find((f) => f.node === 'bare')!;
  const agent = facts.find((f) => f.node === 'agent')!;
  assert.equal(bare.ok, false);
  assert.match(bare.error ?? '', /no agent has registered this node/);
  assert.equal(agent.ok, false);
  assert.doesNotMatch(agent.error ?? '', /no agent has registered/, 'the registered node was asked, and its agent did not answer');
  // The first try of the registered node's facts, and nothing for the bare one (the next try is 4 s later).
  assert.equal((await proxyRequests()) - before, 1);
});
