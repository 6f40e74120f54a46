// `/k8ts/facts`: what this node's kernel holds for the pictures `k8ts ui` draws — the bridge and its
// gateway address, the veths on it, the uplink and VXLAN device, the routing table (k8ts routes marked),
// the VXLAN neighbours and FDB, the service proxy's and the policy engine's nft maps and sets; with
// ?pod=NS/NAME also that pod's eth0, its routes and the host end of its veth pair. Read-only: only `ip`,
// `bridge` and `nft list` run, never with anything from the query on their command lines (the pod is
// looked up in the agent's own sandboxes, and only the netns path the agent made reaches nsenter).
import type { Loose } from '../api/strategies/json.js';
import { run } from '../util/exec.js';
import { ROUTE_PROTO, VXLAN_DEV } from './routes.js';

export const BRIDGE = 'cbr0';

export interface Link {
  name: string;
  index: number;
  mac?: string;
  mtu?: number;
  state?: string;
  kind?: string;
  master?: string;
  /** For a veth: the ifindex of its peer in the pod's namespace. */
  peerIndex?: number;
}

export interface Route {
  dst: string;
  gateway?: string;
  dev?: string;
  /** Made by a k8ts agent (protocol 140). */
  k8ts: boolean;
  text: string;
}

export interface NftMap {
  table: string;
  name: string;
  /** map or set */
  type: string;
  elements: string[];
}

export interface NodeFacts {
  node: string;
  bridge?: { name: string; mac?: string; addresses: string[] };
  links: Link[];
  routes: Route[];
  vxlan?: { neighbours: string[]; fdb: string[] };
  maps: NftMap[];
  pod?: PodFacts;
  errors: string[];
}

export interface PodFacts {
  pod: string;
  netns: string;
  eth0?: { mac?: string; addresses: string[]; mtu?: number; peerIndex?: number };
  hostVeth?: Link;
  routes: string[];
}

export interface FactsContext {
  nodeName: string;
  proxyTable: string;
  policyTable: string;
  /** The netns path of a pod on this node by namespace/name, from the agent's own sandboxes. */
  netnsOfPod?: (key: string) => string | undefined;
}

class BadRequest extends Error {
  readonly code = 'BadRequest';
}

const POD_KEY = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?\/[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;

async function ipJson(argv: string[], errors: string[]): Promise<Loose[]> {
  try {
    const out = (await run(argv, { timeoutMs: 5000 })).stdout;
    return JSON.parse(out || '[]');
  } catch (e) {
    errors.push(`${argv.join(' ')}: ${e instanceof Error ? e.message.split('\n')[0] : e}`);
    return [];
  }
}

function toLink(l: Loose): Link {
  return {
    name: l.ifname,
    index: l.ifindex,
    mac: l.address,
    mtu: l.mtu,
    state: l.operstate,
    kind: l.linkinfo?.info_kind,
    master: l.master,
    ...(l.link_index !== undefined && l.linkinfo?.info_kind === 'veth' ? { peerIndex: l.link_index } : {}),
  };
}

function routeText(r: Loose): string {
  return [
    r.dst,
    r.gateway ? `via ${r.gateway}` : '',
    r.dev ? `dev ${r.dev}` : '',
    r.protocol ? `proto ${r.protocol}` : '',
    r.scope && r.scope !== 'global' ? `scope ${r.scope}` : '',
    r.prefsrc ? `src ${r.prefsrc}` : '',
    ...(r.flags ?? []),
  ]
    .filter(Boolean)
    .join(' ');
}

/** The elements of every map and set of one nft table, as nft prints them (`key : value`). */
async function tableMaps(table: string, errors: string[]): Promise<NftMap[]> {
  let doc: Loose;
  try {
    doc = JSON.parse((await run(['nft', '-j', 'list', 'table', 'ip', table], { timeoutMs: 5000 })).stdout);
  } catch (e) {
    errors.push(`nft list table ip ${table}: ${e instanceof Error ? e.message.split('\n')[0] : e}`);
    return [];
  }
  const out: NftMap[] = [];
  for (const o of doc.nftables ?? []) {
    const m = o.map ?? o.set;
    if (!m) continue;
    out.push({ table, name: m.name, type: o.map ? 'map' : 'set', elements: (m.elem ?? []).map(elemText) });
  }
  return out;
}

function valueText(v: Loose): string {
  if (v === null || typeof v !== 'object') return String(v);
  if (Array.isArray(v)) return v.map(valueText).join(', ');
  if (v.concat) return v.concat.map(valueText).join(' . ');
  if (v.prefix) return `${valueText(v.prefix.addr)}/${v.prefix.len}`;
  if (v.range) return `${valueText(v.range[0])}-${valueText(v.range[1])}`;
  if (v.elem) return valueText(v.elem.val);
  if (v.goto) return `goto ${v.goto.target}`;
  if (v.jump) return `jump ${v.jump.target}`;
  if (v.set) return `{ ${valueText(v.set)} }`;
  return JSON.stringify(v);
}

function elemText(e: Loose): string {
  if (Array.isArray(e)) return `${valueText(e[0])} : ${valueText(e[1])}`;
  return valueText(e);
}

export async function nodeFacts(params: URLSearchParams, ctx: FactsContext): Promise<NodeFacts> {
  const podKey = params.get('pod');
  if (podKey !== null && !POD_KEY.test(podKey)) throw new BadRequest('pod: namespace/name');
  const errors: string[] = [];
  const [links, addrs, routes] = await Promise.all([
    ipJson(['ip', '-j', '-d', 'link', 'show'], errors),
    ipJson(['ip', '-j', 'addr', 'show', 'dev', BRIDGE], errors),
    ipJson(['ip', '-j', 'route', 'show'], errors),
  ]);
  const all = links.map(toLink);
  const keep = all.filter((l) => l.name !== 'lo');
  const br = all.find((l) => l.name === BRIDGE);
  const facts: NodeFacts = {
    node: ctx.nodeName,
    ...(br
      ? {
          bridge: {
            name: BRIDGE,
            mac: br.mac,
            addresses: (addrs[0]?.addr_info ?? []).filter((a: Loose) => a.family === 'inet').map((a: Loose) => `${a.local}/${a.prefixlen}`),
          },
        }
      : {}),
    links: keep,
    routes: routes.map((r) => ({ dst: r.dst, gateway: r.gateway, dev: r.dev, k8ts: String(r.protocol) === String(ROUTE_PROTO), text: routeText(r) })),
    maps: [],
    errors,
  };
  const [proxy, policy, vx] = await Promise.all([
    tableMaps(ctx.proxyTable, errors),
    tableMaps(ctx.policyTable, errors),
    all.some((l) => l.name === VXLAN_DEV)
      ? Promise.all([ipJson(['ip', '-j', 'neigh', 'show', 'dev', VXLAN_DEV], errors), ipJson(['bridge', '-j', 'fdb', 'show', 'dev', VXLAN_DEV], errors)])
      : undefined,
  ]);
  facts.maps = [...proxy, ...policy];
  if (vx) {
    facts.vxlan = {
      neighbours: vx[0].map((n: Loose) => `${n.dst} lladdr ${n.lladdr ?? '?'} ${(n.state ?? []).join(',')}`.trim()),
      fdb: vx[1].map((f: Loose) => `${f.mac} dst ${f.dst ?? '?'} ${(f.flags ?? []).join(',')}`.trim()),
    };
  }
  if (podKey !== null) {
    const netns = ctx.netnsOfPod?.(podKey);
    if (!netns) throw new BadRequest(`pod ${podKey} has no network namespace on node ${ctx.nodeName}`);
    const inPod = (argv: string[]) => ipJson(['nsenter', `--net=${netns}`, '--', ...argv], errors);
    const [eth, proutes] = await Promise.all([inPod(['ip', '-j', '-d', 'addr', 'show', 'dev', 'eth0']), inPod(['ip', '-j', 'route', 'show'])]);
    const e = eth[0];
    const pod: PodFacts = { pod: podKey, netns, routes: proutes.map(routeText) };
    if (e) {
      pod.eth0 = {
        mac: e.address,
        mtu: e.mtu,
        peerIndex: e.link_index,
        addresses: (e.addr_info ?? []).filter((a: Loose) => a.family === 'inet').map((a: Loose) => `${a.local}/${a.prefixlen}`),
      };
      const host = all.find((l) => l.index === e.link_index && l.kind === 'veth');
      if (host) pod.hostVeth = host;
    }
    facts.pod = pod;
  }
  return facts;
}
