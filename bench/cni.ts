// CNI benchmark: per-pod ADD and DEL for N pods (default 50) with k8ts-bridge in-process (by `ip -batch`, and
// as in the agent: links by rtnetlink through a node helper standing in the node's namespace), k8ts-bridge as
// an executable, and the reference bridge + host-local executables, beside the floor measured in the same
// run (`ip netns add`, then one veth made with its peer in the pod namespace and an address, in two
// `ip -batch` calls; teardown by `ip netns del`). Then the teardown options DEL chose between.
//
// The machine is shared and noisy, so the variants are interleaved pod by pod (each variant has its own
// node namespace and bridge), in several rounds; figures are medians (p50) over all pods of all rounds.
// Everything lives in throwaway namespaces ("k8tscni-…") and is removed at the end. Needs root.
//   node dist/bench/cni.js [--pods 50] [--rounds 3]
import { performance } from 'node:perf_hooks';
import { join } from 'node:path';
import { existsSync } from 'node:fs';
import { run } from '../src/util/exec.js';
import { ipBatch } from '../src/agent/cni/ip.js';
import { execPlugin } from '../src/agent/cni/exec.js';
import { k8tsBridgePlugin } from '../src/agent/cni/plugin.js';
import { NodeHelper, installNodeHelper } from '../src/agent/helper.js';
import type { CniConfig, CniPlugin, CniResult } from '../src/agent/cni/types.js';
import { IS_ROOT, K8TS_CNI_BIN, Lab, REFERENCE_CNI_DIR, ping } from '../src/agent/cni/testing.js';
import { fmt, summarize, table } from './lib.js';

const args = process.argv.slice(2);
const arg = (name: string, def: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : def;
};
const PODS = Number(arg('pods', '50'));
const ROUNDS = Number(arg('rounds', '3'));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** One way of plumbing pods, driven pod by pod. `add` returns what `del` needs back. */
interface Variant {
  name: string;
  setup(lab: Lab): Promise<void>;
  add(lab: Lab, ns: string, i: number): Promise<CniResult[]>;
  del(lab: Lab, ns: string, i: number, results: CniResult[]): Promise<void>;
  teardown?(lab: Lab): Promise<void>;
}

interface Samples {
  netnsAdd: number[];
  add: number[];
  del: number[];
  netnsDel: number[];
}

const labs = new Set<Lab>();
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    void Promise.all([...labs].map((l) => l.cleanup())).finally(() => process.exit(130));
  });
}

async function timed<T>(fn: () => Promise<T>): Promise<[number, T]> {
  const t0 = performance.now();
  const v = await fn();
  return [performance.now() - t0, v];
}

const nodeNs = (lab: Lab) => ({ kind: 'named' as const, name: lab.node });
const podNs = (ns: string) => ({ kind: 'named' as const, name: ns.split('/').pop()! });
const podIp = (i: number) => `10.244.${100 + (i >> 8)}.${(i & 255) + 2}`;

/** The floor: what any bridge plugin has to ask of the kernel, in the fewest processes. */
const floor: Variant = {
  name: 'floor: netns add + 2 ip -batch; netns del',
  setup: (lab) => ipBatch(nodeNs(lab), ['link add name cbr0 type bridge', 'addr add 10.244.0.1/16 dev cbr0', 'link set dev cbr0 up']).then(() => undefined),
  async add(lab, ns, i) {
    await ipBatch(nodeNs(lab), [`link add name vfloor${i} master cbr0 up type veth peer name eth0 netns ${ns}`]);
    await ipBatch(podNs(ns), [`addr add ${podIp(i)}/16 dev eth0`, 'link set dev eth0 up']);
    return [{ cniVersion: '1.1.0', ips: [{ address: `${podIp(i)}/16` }] }];
  },
  del: async () => undefined,
};

function pluginVariant(name: string, plugins: (lab: Lab) => CniPlugin[], conf: (lab: Lab) => CniConfig): Variant {
  return {
    name,
    setup: async () => undefined,
    async add(lab, ns, i) {
      const out: CniResult[] = [];
      for (const p of plugins(lab)) out.push(await p.add(conf(lab), { containerId: `bench-${i}`, netns: ns, ifName: 'eth0' }));
      return out;
    },
    async del(lab, ns, i, results) {
      const ps = plugins(lab);
      for (let k = ps.length - 1; k >= 0; k--)
        await ps[k].del({ ...conf(lab), prevResult: results[k] }, { containerId: `bench-${i}`, netns: ns, ifName: 'eth0' });
    },
  };
}

/** k8ts-bridge as the agent runs it: its node helper (one per lab, in the lab's node namespace) is the
 *  runner of every program and makes the links by rtnetlink, installed only around this variant's calls. */
function helperVariant(conf: (lab: Lab) => CniConfig): Variant {
  const helpers = new Map<Lab, NodeHelper>();
  // The node namespace named as the helper's: otherwise the plugin would not use it (and would plumb here).
  const plugin = (lab: Lab) => k8tsBridgePlugin({ hostNetns: lab.node });
  const via = async <T>(lab: Lab, fn: () => Promise<T>): Promise<T> => {
    installNodeHelper(helpers.get(lab));
    try {
      return await fn();
    } finally {
      installNodeHelper(undefined);
    }
  };
  return {
    name: 'k8ts-bridge in-process, node helper (rtnetlink)',
    async setup(lab) {
      helpers.set(lab, new NodeHelper(join(lab.dataDir, 'helper'), 'perl', process.arch, `/run/netns/${lab.node}`));
    },
    add: (lab, ns, i) => via(lab, async () => [await plugin(lab).add(conf(lab), { containerId: `bench-${i}`, netns: ns, ifName: 'eth0' })]),
    del: (lab, ns, i, results) =>
      via(lab, () => plugin(lab).del({ ...conf(lab), prevResult: results[0] }, { containerId: `bench-${i}`, netns: ns, ifName: 'eth0' })),
    async teardown(lab) {
      await helpers.get(lab)?.close();
      helpers.delete(lab);
    },
  };
}

/** Creates N pods with every variant, interleaved, checks connectivity, then deletes them, interleaved. */
async function runRound(variants: Variant[], samples: Map<string, Samples>): Promise<void> {
  const made: Array<{ v: Variant; lab: Lab; pods: Array<{ ns: string; results: CniResult[] }> }> = [];
  try {
    for (const v of variants) {
      const lab = await new Lab().start();
      labs.add(lab);
      made.push({ v, lab, pods: [] });
      await v.setup(lab);
    }
    for (let i = 0; i < PODS; i++) {
      const order = [...made.slice(i % made.length), ...made.slice(0, i % made.length)];
      for (const m of order) {
        const s = samples.get(m.v.name)!;
        const [tNs, ns] = await timed(() => m.lab.pod());
        const [tAdd, results] = await timed(() => m.v.add(m.lab, ns, i));
        s.netnsAdd.push(tNs);
        s.add.push(tAdd);
        m.pods.push({ ns, results });
      }
    }
    for (const m of made) {
      const last = m.pods[m.pods.length - 1].results[0].ips![0].address.split('/')[0];
      if (!(await ping(m.pods[0].ns, last))) throw new Error(`${m.v.name}: pods cannot reach each other, the measurement is void`);
    }
    for (let i = 0; i < PODS; i++) {
      const order = [...made.slice(i % made.length), ...made.slice(0, i % made.length)];
      for (const m of order) {
        const s = samples.get(m.v.name)!;
        const { ns, results } = m.pods[i];
        s.del.push((await timed(() => m.v.del(m.lab, ns, i, results)))[0]);
        s.netnsDel.push((await timed(() => m.lab.deletePod(ns)))[0]);
      }
    }
  } finally {
    for (const m of made) {
      await m.v.teardown?.(m.lab);
      await m.lab.cleanup();
      labs.delete(m.lab);
    }
  }
}

type Teardown = 'nothing (netns del only)' | 'link del' | 'link set nomaster down' | 'link set down (k8ts-bridge DEL)';
const TEARDOWNS: Teardown[] = ['nothing (netns del only)', 'link del', 'link set nomaster down', 'link set down (k8ts-bridge DEL)'];

function teardownLine(how: Teardown, veth: string): string | undefined {
  if (how === 'link del') return `link del dev ${veth}`;
  if (how === 'link set nomaster down') return `link set dev ${veth} nomaster down`;
  if (how === 'link set down (k8ts-bridge DEL)') return `link set dev ${veth} down`;
  return undefined;
}

/** Pods made the floor's way, then torn down each way, interleaved pod by pod. */
async function runTeardownRound(samples: Map<Teardown, { step: number[]; netnsDel: number[] }>): Promise<void> {
  const made: Array<{ how: Teardown; lab: Lab; pods: string[] }> = [];
  try {
    for (const how of TEARDOWNS) {
      const lab = await new Lab().start();
      labs.add(lab);
      made.push({ how, lab, pods: [] });
      await ipBatch(nodeNs(lab), ['link add name cbr0 type bridge', 'link set dev cbr0 up']);
    }
    for (let i = 0; i < PODS; i++) {
      for (const m of made) {
        const ns = await m.lab.pod();
        await ipBatch(nodeNs(m.lab), [`link add name vtd${i} master cbr0 up type veth peer name eth0 netns ${ns}`]);
        await ipBatch(podNs(ns), ['link set dev eth0 up']);
        m.pods.push(ns);
      }
    }
    for (let i = 0; i < PODS; i++) {
      const order = [...made.slice(i % made.length), ...made.slice(0, i % made.length)];
      for (const m of order) {
        const line = teardownLine(m.how, `vtd${i}`);
        const s = samples.get(m.how)!;
        s.step.push(line ? (await timed(() => ipBatch(nodeNs(m.lab), [line])))[0] : 0);
        s.netnsDel.push((await timed(() => m.lab.deletePod(m.pods[i])))[0]);
      }
    }
  } finally {
    for (const m of made) {
      await m.lab.cleanup();
      labs.delete(m.lab);
    }
  }
}

const p50 = (xs: number[]) => summarize(xs).p50;
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const cell = (xs: number[]) => `${fmt(p50(xs))} (${fmt(mean(xs))})`;

async function main(): Promise<void> {
  if (!IS_ROOT) {
    console.error('bench/cni: needs root (it creates network namespaces, veths and bridges); run it as root');
    process.exit(2);
  }
  const load = (await run(['cat', '/proc/loadavg'])).stdout.split(' ').slice(0, 3).join(' ');
  console.log(
    `CNI per-pod plumbing: ${PODS} pods × ${ROUNDS} rounds, variants interleaved pod by pod; ${(await run(['nproc'])).stdout.trim()} CPUs, load ${load}`,
  );
  console.log('ms per pod, p50 (mean). ADD/DEL: the plugin calls alone; pod up: + `ip netns add`; pod gone: + `ip netns del`\n');

  const ours = (lab: Lab): CniConfig => ({
    cniVersion: '1.1.0',
    name: 'k8ts',
    type: 'k8ts-bridge',
    ipam: { type: 'k8ts-ipam', subnet: '10.244.0.0/16', dataDir: lab.dataDir },
  });
  const refConf = (lab: Lab): CniConfig => ({
    cniVersion: '1.0.0',
    name: 'k8ts',
    type: 'bridge',
    bridge: 'cbr0',
    isGateway: true,
    isDefaultGateway: true,
    hairpinMode: true,
    ipam: { type: 'host-local', subnet: '10.244.0.0/16', dataDir: lab.dataDir },
  });
  const variants: Variant[] = [
    floor,
    pluginVariant('k8ts-bridge in-process', (lab) => [k8tsBridgePlugin({ hostNetns: lab.node })], ours),
    helperVariant(ours),
    pluginVariant('k8ts-bridge executable (bin/k8ts-cni)', (lab) => [execPlugin(K8TS_CNI_BIN, { hostNetns: lab.node })], ours),
  ];
  if (existsSync(join(REFERENCE_CNI_DIR, 'bridge'))) {
    const ref = (type: string) => (lab: Lab) => execPlugin(join(REFERENCE_CNI_DIR, type), { hostNetns: lab.node, cniPath: [REFERENCE_CNI_DIR] });
    variants.push(pluginVariant('reference bridge + host-local', (lab) => [ref('bridge')(lab)], refConf));
    // k8ts-bridge also brings lo up; with the reference plugins that takes the loopback plugin too.
    variants.push(pluginVariant('reference bridge + host-local + loopback', (lab) => [ref('bridge')(lab), ref('loopback')(lab)], refConf));
  } else {
    console.log(`(reference plugins not found in ${REFERENCE_CNI_DIR}: apt-get install containernetworking-plugins)\n`);
  }

  const samples = new Map<string, Samples>(variants.map((v) => [v.name, { netnsAdd: [], add: [], del: [], netnsDel: [] }]));
  const td = new Map<Teardown, { step: number[]; netnsDel: number[] }>(TEARDOWNS.map((h) => [h, { step: [], netnsDel: [] }]));
  for (let round = 0; round < ROUNDS; round++) {
    await runRound(variants, samples);
    await sleep(1000); // let the kernel finish tearing the deleted namespaces down
    await runTeardownRound(td);
    await sleep(1000);
    process.stderr.write(`round ${round + 1}/${ROUNDS} done\n`);
  }

  const f = samples.get(floor.name)!;
  const floorUp = p50(f.netnsAdd) + p50(f.add);
  const rows: (string | number)[][] = [['variant', 'ADD', 'ADD / floor', 'pod up', 'up / floor', 'DEL', 'pod gone', 'gone / floor']];
  for (const v of variants) {
    const s = samples.get(v.name)!;
    const up = p50(s.netnsAdd) + p50(s.add);
    const gone = p50(s.del) + p50(s.netnsDel);
    rows.push([
      v.name,
      cell(s.add),
      `${fmt(p50(s.add) / p50(f.add))}x`,
      fmt(up),
      `${fmt(up / floorUp)}x`,
      cell(s.del),
      fmt(gone),
      `${fmt(gone / p50(f.netnsDel))}x`,
    ]);
  }
  console.log(table(rows));

  console.log(`\nteardown of a pod before the runtime's \`ip netns del\` (ms per pod, p50 (mean)):`);
  const tRows: (string | number)[][] = [['teardown', 'step', 'netns del', 'total', 'total / netns del alone', 'correct if the netns outlives DEL']];
  const alone = p50(td.get('nothing (netns del only)')!.netnsDel);
  for (const how of TEARDOWNS) {
    const r = td.get(how)!;
    const total = p50(r.step) + p50(r.netnsDel);
    tRows.push([
      how,
      cell(r.step),
      cell(r.netnsDel),
      fmt(total),
      `${fmt(total / alone)}x`,
      how.startsWith('nothing') ? 'no: the pod keeps a released address on the bridge' : 'yes',
    ]);
  }
  console.log(table(tRows));
}

await main();
