// `/k8ts/facts`: what this node's kernel holds for the pictures `k8ts ui` draws — the bridge and its
// gateway address, the veths on it, the uplink and VXLAN device, the routing table (k8ts routes marked),
// the VXLAN neighbours and FDB, the service proxy's and the policy engine's nft maps and sets; with
// ?pod=NS/NAME also that pod's eth0, its routes and the host end of its veth pair. Read-only: only `ip`,
// `bridge` and `nft list` run, never with anything from the query on their command lines (the pod is
// looked up in the agent's own sandboxes, and only the netns path the agent made reaches nsenter).
import { arr, asNumber, asObj, asString, isObj, type JsonObject, objs, parseJson, strings } from '../api/narrow.js';
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

/** `ip -j` / `bridge -j` output: an array of objects whose fields are narrowed where read; a failed run or a
 *  document that is not an array is an error in the facts (the rest of the picture is still drawn). */
async function ipJson(argv: string[], errors: string[]): Promise<JsonObject[]> {
  try {
    const out = (await run(argv, { timeoutMs: 5000 })).stdout;
    const doc = parseJson(out || '[]', argv.join(' '));
    if (!Array.isArray(doc)) throw new Error('not a JSON array');
    return objs(doc);
  } catch (e) {
    errors.push(`${argv.join(' ')}: ${e instanceof Error ? e.message.split('\n')[0] : e}`);
    return [];
  }
}

/** One `ip -j -d link` entry, or undefined when it has no name or index (nothing to draw it by). */
function toLink(l: JsonObject): Link | undefined {
  const name = asString(l.ifname);
  const index = asNumber(l.ifindex);
  if (name === undefined || index === undefined) return undefined;
  const kind = asString(asObj(l.linkinfo).info_kind);
  const peerIndex = asNumber(l.link_index);
  return {
    name,
    index,
    mac: asString(l.address),
    mtu: asNumber(l.mtu),
    state: asString(l.operstate),
    kind,
    master: asString(l.master),
    ...(peerIndex !== undefined && kind === 'veth' ? { peerIndex } : {}),
  };
}

/** An `ip -j addr` entry's IPv4 addresses as CIDRs. */
const inetAddresses = (e: JsonObject | undefined): string[] =>
  objs(e?.addr_info)
    .filter((a) => a.family === 'inet')
    .map((a) => `${asString(a.local) ?? '?'}/${asNumber(a.prefixlen) ?? '?'}`);

/** A text field of `ip -j` output printed as is; a number (a numeric protocol) as its digits. */
const word = (v: unknown): string => (typeof v === 'string' || typeof v === 'number' ? String(v) : '');

function routeText(r: JsonObject): string {
  const scope = word(r.scope);
  return [
    word(r.dst),
    word(r.gateway) ? `via ${word(r.gateway)}` : '',
    word(r.dev) ? `dev ${word(r.dev)}` : '',
    word(r.protocol) ? `proto ${word(r.protocol)}` : '',
    scope && scope !== 'global' ? `scope ${scope}` : '',
    word(r.prefsrc) ? `src ${word(r.prefsrc)}` : '',
    ...strings(r.flags),
  ]
    .filter(Boolean)
    .join(' ');
}

/** The elements of every map and set of one nft table, as nft prints them (`key : value`). */
async function tableMaps(table: string, errors: string[]): Promise<NftMap[]> {
  let doc: unknown;
  try {
    doc = parseJson((await run(['nft', '-j', 'list', 'table', 'ip', table], { timeoutMs: 5000 })).stdout, `nft -j list table ip ${table}`);
  } catch (e) {
    errors.push(`nft list table ip ${table}: ${e instanceof Error ? e.message.split('\n')[0] : e}`);
    return [];
  }
  if (!isObj(doc) || !Array.isArray(doc.nftables)) {
    errors.push(`nft list table ip ${table}: no "nftables" array in its JSON`);
    return [];
  }
  const out: NftMap[] = [];
  for (const o of objs(doc.nftables)) {
    const m = isObj(o.map) ? o.map : isObj(o.set) ? o.set : undefined;
    if (!m) continue;
    out.push({ table, name: word(m.name), type: isObj(o.map) ? 'map' : 'set', elements: arr(m.elem).map(elemText) });
  }
  return out;
}

/** One nft JSON expression as nft prints it (libnftables' JSON schema: concat, prefix, range, elem, verdicts). */
function valueText(v: unknown): string {
  if (v === null || typeof v !== 'object') return String(v);
  if (Array.isArray(v)) return v.map(valueText).join(', ');
  const o = v as JsonObject;
  if (Array.isArray(o.concat)) return o.concat.map(valueText).join(' . ');
  if (isObj(o.prefix)) return `${valueText(o.prefix.addr)}/${word(o.prefix.len)}`;
  if (Array.isArray(o.range)) return `${valueText(o.range[0])}-${valueText(o.range[1])}`;
  if (isObj(o.elem)) return valueText(o.elem.val);
  if (isObj(o.goto)) return `goto ${word(o.goto.target)}`;
  if (isObj(o.jump)) return `jump ${word(o.jump.target)}`;
  if (o.set !== undefined) return `{ ${valueText(o.set)} }`;
  return JSON.stringify(v);
}

function elemText(e: unknown): string {
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
  const all = links.map(toLink).filter((l): l is Link => l !== undefined);
  const keep = all.filter((l) => l.name !== 'lo');
  const br = all.find((l) => l.name === BRIDGE);
  const facts: NodeFacts = {
    node: ctx.nodeName,
    ...(br
      ? {
          bridge: {
            name: BRIDGE,
            mac: br.mac,
            addresses: inetAddresses(addrs[0]),
          },
        }
      : {}),
    links: keep,
    routes: routes.map((r) => ({
      dst: word(r.dst),
      gateway: asString(r.gateway),
      dev: asString(r.dev),
      k8ts: word(r.protocol) === String(ROUTE_PROTO),
      text: routeText(r),
    })),
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
      neighbours: vx[0].map((n) => `${word(n.dst)} lladdr ${word(n.lladdr) || '?'} ${strings(n.state).join(',')}`.trim()),
      fdb: vx[1].map((f) => `${word(f.mac)} dst ${word(f.dst) || '?'} ${strings(f.flags).join(',')}`.trim()),
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
        mac: asString(e.address),
        mtu: asNumber(e.mtu),
        peerIndex: asNumber(e.link_index),
        addresses: inetAddresses(e),
      };
      const host = all.find((l) => l.index === asNumber(e.link_index) && l.kind === 'veth');
      if (host) pod.hostVeth = host;
    }
    facts.pod = pod;
  }
  return facts;
}
