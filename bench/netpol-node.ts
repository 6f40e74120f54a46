// One node's policy engine in its own process for bench/netpol.ts, as each node's agent is its own process
// in a cluster: the benchmark forks one per node and feeds it over the IPC channel (what the informers
// would deliver), so the two nodes' JS work runs side by side instead of serialising in one event loop, and
// each node's CPU per change is its own process's. Started only by bench/netpol.ts (process.send present).
import { PolicyEngine, type PolicyEngineOptions, type WatchEvent } from '../src/agent/policy/engine.js';
import type { KObject, Pod } from '../src/api/types.js';

/** What the benchmark sends; every message with an `id` is answered with a Reply of that id. */
export type Request =
  | { op: 'new'; opts: PolicyEngineOptions }
  | { op: 'namespace' | 'policy'; type: WatchEvent; obj: KObject }
  | { op: 'pod'; type: WatchEvent; obj: Pod }
  | { op: 'start'; id: number }
  | { op: 'settle'; id: number }
  | { op: 'teardown'; id: number };

export interface Reply {
  id: number;
  error?: string;
  /** This process's CPU time so far (user + system, ms), and the engine's nft child's. */
  cpuMs: number;
  nftCpuMs: number;
  /** The engine's last pass: compile, difference text, nft transaction (ms of wall time). */
  compileMs: number;
  textMs: number;
  nftMs: number;
  isolatedIngress: number[];
}

let engine: PolicyEngine | undefined;

function reply(id: number, error?: string): void {
  const c = process.cpuUsage();
  const e = engine;
  const r: Reply = {
    id,
    error,
    cpuMs: (c.user + c.system) / 1000,
    nftCpuMs: e?.programmer.session.cpuMs() ?? 0,
    compileMs: e?.stats.lastCompileMs ?? 0,
    textMs: e?.programmer.stats.lastTextMs ?? 0,
    nftMs: e?.programmer.stats.lastNftMs ?? 0,
    isolatedIngress: e ? [...e.programmer.state.ingress.keys()] : [],
  };
  process.send!(r);
}

async function handle(m: Request): Promise<void> {
  switch (m.op) {
    case 'new':
      engine = new PolicyEngine(m.opts);
      return;
    case 'namespace':
      return engine!.onNamespace(m.type, m.obj);
    case 'policy':
      return engine!.onPolicy(m.type, m.obj);
    case 'pod':
      return engine!.onPod(m.type, m.obj);
    case 'start':
      await engine!.start();
      return reply(m.id);
    case 'settle':
      await engine!.settled();
      return reply(m.id);
    case 'teardown':
      await engine?.teardown();
      reply(m.id);
      engine = undefined;
      process.disconnect();
      return;
  }
}

if (process.send) {
  // Messages are handled in arrival order: a settle answers only after every change sent before it.
  let chain: Promise<void> = Promise.resolve();
  process.on('message', (m: Request) => {
    chain = chain.then(
      () =>
        handle(m).catch((e: Error) => {
          if ('id' in m) reply(m.id, e.message);
          else console.error(`[netpol-node] ${m.op}: ${e.message}`);
        }),
      () => undefined,
    );
  });
  // The parent gone (killed, failed): take the tables down and end.
  process.on('disconnect', () => void (engine?.teardown() ?? Promise.resolve()).finally(() => process.exit(0)));
}
