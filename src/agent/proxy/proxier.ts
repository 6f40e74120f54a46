// The service proxy every agent runs: keeps its nftables table (see ruleset.ts) equal to the Services and
// EndpointSlices it is fed, programming only the difference per change, and putting it all back when the
// table is lost or drifts.
import { writeFile } from 'node:fs/promises';
import { constants } from 'node:os';
import { performance } from 'node:perf_hooks';
import type { EndpointSlice, KObject, Service } from '../../api/types.js';
import { commandError, nftEnv, run, spawnProcess } from '../../util/exec.js';
import { installedNodeHelper, RtnlError, type NodeHelper } from '../helper.js';
import { changeBatch, createTableBatch, elementBatch, probeTableBatch } from './nfnl.js';
import { NftCountScanner, type KernelCounts } from './nftcount.js';
import { Ledger } from './ledger.js';
import { serviceModel, SERVICE_NAME_LABEL, type ServicePortModel } from './model.js';
import {
  ALIVE_SET,
  changesStructure,
  CONTAINERS,
  DEFAULT_TABLE,
  diffDesired,
  diffRuleset,
  type DesiredDiff,
  fragment,
  pickCount,
  tableText,
  type Fragment,
  type TableContent,
  type WantedCounts,
} from './ruleset.js';

export interface ServiceProxyOptions {
  nodeName: string;
  /** This node's addresses (NodePorts answer on every local address; kept for the model and logs). */
  nodeIPs: string[];
  /** nftables table (family ip) the proxy owns; default `k8ts-proxy`. */
  table?: string;
  /** Full comparison with the kernel, rewriting the table on drift; default 60 s. */
  resyncMs?: number;
  /** Cheap "is the table still there" probe; default 2 s. */
  checkMs?: number;
  /** Changes arriving within this window are programmed together; default 10 ms. */
  debounceMs?: number;
  /** Run nft/conntrack/sysctl in this network namespace (a path such as /run/netns/x); default: our own. */
  netns?: string;
  /** Delete UDP conntrack entries of endpoints that went away (needs the `conntrack` tool); default true. */
  conntrack?: boolean;
  /** Set net.bridge.bridge-nf-call-iptables=1 in the namespace on start(); default true. */
  bridgeNetfilter?: boolean;
  log?: (line: string) => void;
  /** Each sync that reached the kernel: how long it took, and whether it rewrote the whole table. */
  synced?: (seconds: number, full: boolean) => void;
  /** Each Service or EndpointSlice change fed in (kube-proxy's *_changes_total). */
  changed?: (what: 'service' | 'endpoints') => void;
  /**
   * Sends changes of elements, and a full rewrite's elements where there was no table, by netlink (see
   * changeByNetlink, fullByNetlink); default the process's installed node helper; null: everything by `nft -f`.
   */
  helper?: NodeHelper | null;
}

export interface ProxyStats {
  /** Incremental syncs done, and full rewrites of the table (start, recovery, drift). */
  syncs: number;
  fullSyncs: number;
  lastSyncMs: number;
  lastFullSyncMs: number;
  /** Of the last sync, the time spent in `nft` (the rest is computing the model and the text). */
  lastNftMs: number;
  /** Of the last sync made by netlink, the time its batch took (for a full rewrite: encoding, while nft made
   * the structure, and sending). */
  lastNetlinkMs: number;
  /** How the last full rewrite was made: its structure and elements by `nft -f`, or the elements by netlink. */
  lastFullVia?: 'nft' | 'netlink';
  /** Service ports programmed. */
  servicePorts: number;
  recoveries: number;
  lastError?: string;
}

export type WatchEvent = 'ADDED' | 'MODIFIED' | 'DELETED';

export class ProxyError extends Error {
  constructor(
    readonly code: 'ProxyNotStarted',
    message: string,
  ) {
    super(message);
    this.name = 'ProxyError';
  }
}

interface Entry {
  svc?: Service;
  slices: Map<string, EndpointSlice>;
  /** What was last programmed for this service. */
  model: ServicePortModel[];
  frag?: Fragment;
}

export class ServiceProxy {
  readonly table: string;
  readonly stats: ProxyStats = { syncs: 0, fullSyncs: 0, lastSyncMs: 0, lastFullSyncMs: 0, lastNftMs: 0, lastNetlinkMs: 0, servicePorts: 0, recoveries: 0 };
  private readonly opts: Required<Omit<ServiceProxyOptions, 'netns' | 'log' | 'synced' | 'changed' | 'helper'>> &
    Pick<ServiceProxyOptions, 'netns' | 'log' | 'synced' | 'changed' | 'helper'>;
  private readonly entries = new Map<string, Entry>();
  private readonly dirty = new Set<string>();
  private readonly ledger = new Ledger();
  private readonly node: { nodeName: string };
  private started = false;
  private needFull = true;
  private probing = false;
  /** Pick chains per kind in the kernel (see pickCount). */
  private picks = 0;
  private debounce?: NodeJS.Timeout;
  private timers: NodeJS.Timeout[] = [];
  private chain: Promise<void> = Promise.resolve();

  constructor(opts: ServiceProxyOptions) {
    this.opts = { table: DEFAULT_TABLE, resyncMs: 60_000, checkMs: 2_000, debounceMs: 10, conntrack: true, bridgeNetfilter: true, ...opts };
    this.table = this.opts.table;
    this.node = { nodeName: this.opts.nodeName };
  }

  /** Replace everything the proxy knows with these objects (services of any type; slices of any service). */
  update(services: Service[], slices: EndpointSlice[]): void {
    const seen = new Set<string>();
    const bySvc = new Map<string, Map<string, EndpointSlice>>();
    for (const s of slices) {
      const key = sliceOwner(s);
      if (!key) continue;
      let m = bySvc.get(key);
      if (!m) bySvc.set(key, (m = new Map()));
      m.set(s.metadata.name ?? '', s);
    }
    for (const svc of services) {
      const key = objKey(svc);
      seen.add(key);
      const e = this.entry(key);
      const slicesNow = bySvc.get(key) ?? new Map<string, EndpointSlice>();
      if (e.svc && sameVersion(e.svc, svc) && sameSlices(e.slices, slicesNow)) continue;
      e.svc = svc;
      e.slices = slicesNow;
      this.dirty.add(key);
    }
    for (const [key, slicesNow] of bySvc) {
      if (seen.has(key)) continue;
      const e = this.entry(key);
      if (e.svc) this.dirty.add(key);
      e.svc = undefined;
      e.slices = slicesNow;
    }
    for (const [key, e] of this.entries) {
      if (seen.has(key) || bySvc.has(key)) continue;
      if (e.svc || e.slices.size) this.dirty.add(key);
      e.svc = undefined;
      e.slices = new Map();
    }
    this.schedule();
  }

  onServiceChange(type: WatchEvent, svc: Service): void {
    this.opts.changed?.('service');
    const key = objKey(svc);
    const e = this.entry(key);
    e.svc = type === 'DELETED' ? undefined : svc;
    this.dirty.add(key);
    this.schedule();
  }

  onSliceChange(type: WatchEvent, slice: EndpointSlice): void {
    const key = sliceOwner(slice);
    if (!key) return;
    this.opts.changed?.('endpoints');
    const e = this.entry(key);
    if (type === 'DELETED') e.slices.delete(slice.metadata.name ?? '');
    else e.slices.set(slice.metadata.name ?? '', slice);
    this.dirty.add(key);
    this.schedule();
  }

  /** Program the full table now, then keep it: debounced changes, probes and periodic comparison. */
  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    if (this.opts.bridgeNetfilter) await this.enableBridgeNetfilter();
    this.needFull = true;
    await this.sync();
    this.timers.push(
      setInterval(() => void this.probe(), this.opts.checkMs),
      setInterval(() => void this.deepCheck(), this.opts.resyncMs),
    );
    for (const t of this.timers) t.unref();
  }

  /** Stop reacting; the rules stay, so traffic keeps flowing while the agent restarts. */
  async stop(): Promise<void> {
    this.started = false;
    if (this.debounce) clearTimeout(this.debounce);
    this.debounce = undefined;
    for (const t of this.timers.splice(0)) clearInterval(t);
    await this.chain;
  }

  /** Stop and remove the table. */
  async teardown(): Promise<void> {
    await this.stop();
    await this.nft(['delete', 'table', 'ip', this.table]).catch(() => undefined);
    this.needFull = true;
  }

  /** What is programmed now: services, service ports, endpoints, and the table's elements and chains. */
  counts(): { services: number; servicePorts: number; endpoints: number; elements: number; chains: number } {
    let services = 0;
    let endpoints = 0;
    let elements = 0;
    let chains = 0;
    for (const e of this.entries.values()) {
      if (e.model.length) services++;
      for (const m of e.model) endpoints += m.endpoints.length;
      elements += (e.frag?.els.length ?? 0) / 3;
      chains += e.frag?.chains?.size ?? 0;
    }
    return { services, servicePorts: this.stats.servicePorts, endpoints, elements, chains };
  }

  /** Resolves once every change made so far is in the kernel (for tests and benchmarks). */
  async settled(): Promise<void> {
    if (!this.started) throw new ProxyError('ProxyNotStarted', 'ServiceProxy.settled(): call start() first');
    if (this.debounce) {
      clearTimeout(this.debounce);
      this.debounce = undefined;
      await this.sync();
    }
    await this.chain;
  }

  private entry(key: string): Entry {
    let e = this.entries.get(key);
    if (!e) this.entries.set(key, (e = { slices: new Map(), model: [] }));
    return e;
  }

  private schedule(): void {
    if (!this.started || this.debounce) return;
    this.debounce = setTimeout(() => {
      this.debounce = undefined;
      void this.sync();
    }, this.opts.debounceMs);
  }

  /** Queue one pass; passes never overlap. */
  private sync(): Promise<void> {
    this.chain = this.chain
      .then(() => this.pass())
      .catch((e: Error) => {
        this.stats.lastError = e.message;
        this.opts.log?.(`proxy: sync failed, rewriting the table next: ${e.message}`);
        this.needFull = true;
        if (this.started) setTimeout(() => void this.sync(), 1000).unref();
      });
    return this.chain;
  }

  private async pass(): Promise<void> {
    const t0 = performance.now();
    let full = this.needFull;
    this.stats.lastNftMs = 0;
    this.stats.lastNetlinkMs = 0;
    const changes: [Fragment | undefined, Fragment | undefined][] = [];
    const udpGone: { model: ServicePortModel; gone: { ip: string; port: number }[]; wasEmpty: boolean }[] = [];
    for (const key of this.dirty) {
      const e = this.entries.get(key)!;
      const model = e.svc ? serviceModel(e.svc, [...e.slices.values()], this.node) : [];
      const frag = model.length ? fragment(model) : undefined;
      changes.push([e.frag, frag]);
      if (this.opts.conntrack) udpGone.push(...staleUdp(e.model, model));
      this.stats.servicePorts += model.length - e.model.length;
      e.model = model;
      e.frag = frag;
      if (frag && frag.maxPick > this.picks) full = true;
      if (!e.svc && e.slices.size === 0) this.entries.delete(key);
    }
    this.dirty.clear();
    // A full rewrite needs no before/after: it writes everything.
    const { before, after } = this.ledger.replace(changes, !full);
    if (full) {
      let maxPick = 0;
      for (const e of this.entries.values()) maxPick = Math.max(maxPick, e.frag?.maxPick ?? 0);
      const picks = pickCount(maxPick);
      const content = this.ledger.content();
      if (await this.fullByNetlink(content, picks)) this.stats.lastFullVia = 'netlink';
      else {
        await this.nftFile(tableText(this.table, content, picks));
        this.stats.lastFullVia = 'nft';
      }
      this.picks = picks;
      this.needFull = false;
      this.stats.fullSyncs++;
      this.stats.lastFullSyncMs = performance.now() - t0;
    } else {
      const diff = diffDesired(before, after);
      if (!(await this.changeByNetlink(diff))) {
        const text = diffRuleset(this.table, diff, after);
        if (text) await this.nftFile(text);
      }
    }
    this.stats.syncs++;
    this.stats.lastSyncMs = performance.now() - t0;
    this.stats.lastError = undefined;
    this.opts.synced?.(this.stats.lastSyncMs / 1000, full);
    // After the rules changed, so no new entry can be made towards an endpoint that is gone.
    for (const u of udpGone) await this.clearUdp(u.model, u.gone, u.wasEmpty);
  }

  /**
   * A full rewrite where there is no table (an agent's first start on a node, the table lost): a netlink
   * transaction makes the empty table (refused when one exists), `nft -f` adds its structure with empty maps,
   * and one netlink batch every element. With no table there was no traffic to keep, so the moments between
   * the transactions, when the maps are still empty, take nothing away. False when there is a table (it must
   * be replaced in one transaction, which only `nft -f` of the whole table does here) or no helper: the caller
   * writes it all by nft, which also replaces what a failed step left.
   */
  private async fullByNetlink(content: TableContent, picks: number): Promise<boolean> {
    const helper = this.helper();
    if (!helper) return false;
    const what = `proxy: table ip ${this.table}`;
    const netns = this.opts.netns ?? '';
    try {
      await helper.nfnl(what, createTableBatch(this.table), netns);
    } catch (e) {
      if (!(e instanceof RtnlError && e.errno === constants.errno.EEXIST))
        this.opts.log?.(`proxy: cannot make the table by netlink, writing it by nft: ${(e as Error).message}`);
      return false;
    }
    // nft adds the structure while the elements are encoded here.
    const structure = this.nftFile(tableText(this.table, { ...content, elements: () => [] }, picks, true));
    const t0 = performance.now();
    let batch: Buffer;
    try {
      batch = elementBatch(this.table, CONTAINERS, (c, emit) => this.ledger.eachElement(c, emit), this.ledger.size()).bytes;
    } catch (e) {
      await structure.catch(() => undefined);
      throw e;
    }
    const encodeMs = performance.now() - t0;
    try {
      await structure;
    } catch (e) {
      this.opts.log?.(`proxy: nft could not add the table's structure, writing the whole table by nft: ${(e as Error).message}`);
      return false;
    }
    const t1 = performance.now();
    try {
      await helper.nfnl(what, batch, netns);
    } catch (e) {
      this.opts.log?.(`proxy: the elements' netlink batch failed, writing the whole table by nft: ${(e as Error).message}`);
      return false;
    }
    this.stats.lastNetlinkMs = encodeMs + performance.now() - t1;
    return true;
  }

  /**
   * A change of elements only (nearly every change: a service or an endpoint came or went) as one netlink
   * transaction through the node helper: `nft` needs 20–60 ms for a one-element change at 10,000 services
   * (it reads the table's sets and chains first), the batch about one. False when the change touches chains
   * or sets (session affinity) or there is no helper: the caller sends the text by nft. A failed batch
   * throws, as a failed `nft -f` does, and the next pass rewrites the table.
   */
  private async changeByNetlink(diff: DesiredDiff): Promise<boolean> {
    const helper = this.helper();
    if (!helper || changesStructure(diff)) return false;
    if (diff.elements.size === 0) return true;
    const t0 = performance.now();
    await helper.nfnl(`proxy: table ip ${this.table}`, changeBatch(this.table, diff.elements).bytes, this.opts.netns ?? '');
    this.stats.lastNetlinkMs = performance.now() - t0;
    return true;
  }

  private helper(): NodeHelper | undefined {
    return (this.opts.helper === undefined ? installedNodeHelper() : this.opts.helper) ?? undefined;
  }

  /** Whether our table is there: a netlink transaction that changes nothing (probeTableBatch) through the
   *  helper, or without one a listing of its smallest set. */
  private async tablePresent(): Promise<boolean> {
    const helper = this.helper();
    if (helper) {
      try {
        await helper.nfnl(`proxy: probe table ip ${this.table}`, probeTableBatch(this.table), this.opts.netns ?? '');
      } catch (e) {
        if (e instanceof RtnlError && e.errno === constants.errno.EEXIST) return e.index === 1;
        // The helper itself failed: ask nft, below.
      }
    }
    try {
      await this.nft(['list', 'set', 'ip', this.table, ALIVE_SET]);
      return true;
    } catch {
      return false;
    }
  }

  /** Every few seconds: is our table still there? */
  private async probe(): Promise<void> {
    // One probe at a time: on a loaded machine a listing can outlast the interval, and two probes that both
    // saw the table gone would rewrite it twice.
    if (!this.started || this.needFull || this.probing) return;
    this.probing = true;
    try {
      if (await this.tablePresent()) return;
      if (!this.started || this.needFull) return;
      this.opts.log?.(`proxy: table ip ${this.table} is gone, rewriting it`);
      this.stats.recoveries++;
      this.needFull = true;
      await this.sync();
    } finally {
      this.probing = false;
    }
  }

  /** Now and then: compare what the kernel holds with what we want, element by element and rule by rule. */
  private async deepCheck(): Promise<void> {
    if (!this.started || this.needFull) return;
    await this.chain;
    let drift: string | undefined;
    try {
      drift = compareKernel(await this.kernelCounts(), this.ledger.counts());
    } catch (e) {
      drift = (e as Error).message;
    }
    if (drift && this.started) {
      this.opts.log?.(`proxy: table ip ${this.table} drifted (${drift}), rewriting it`);
      this.stats.recoveries++;
      this.needFull = true;
      await this.sync();
    }
  }

  private async enableBridgeNetfilter(): Promise<void> {
    try {
      // In our own namespace the file itself (/proc/sys/net follows the writer's network namespace): no process.
      if (this.opts.netns) await run([...this.prefix(), 'sysctl', '-q', '-w', 'net.bridge.bridge-nf-call-iptables=1']);
      else await writeFile('/proc/sys/net/bridge/bridge-nf-call-iptables', '1\n');
    } catch (e) {
      this.opts.log?.(`proxy: cannot enable bridge netfilter (is br_netfilter loaded?); pod→service→pod on one bridge will fail: ${(e as Error).message}`);
    }
  }

  private async clearUdp(m: ServicePortModel, gone: { ip: string; port: number }[], wasEmpty: boolean): Promise<void> {
    const dsts = [...m.clusterIPs, ...m.externalIPs, ...m.loadBalancerIPs];
    const cmds: string[][] = [];
    for (const ip of dsts) {
      if (wasEmpty) cmds.push(['-D', '-p', 'udp', '--orig-dst', ip, '--orig-port-dst', String(m.port)]);
      for (const g of gone) cmds.push(['-D', '-p', 'udp', '--orig-dst', ip, '--orig-port-dst', String(m.port), '--dst-nat', g.ip]);
    }
    if (m.nodePort !== undefined) for (const g of gone) cmds.push(['-D', '-p', 'udp', '--orig-port-dst', String(m.nodePort), '--dst-nat', g.ip]);
    // conntrack exits 1 when nothing matched: not an error here.
    for (const c of cmds) await run([...this.prefix(), 'conntrack', ...c]).catch(() => undefined);
  }

  /**
   * The table's element, chain and rule counts from `nft -j -n list table`, counted as the listing streams in
   * (nftcount.ts) rather than parsed whole on the event loop. `-n` spares nft a name lookup per address,
   * port and protocol: with it and nftEnv, listing 30,000 elements cost nft 0.58 s of CPU instead of 1.6 s.
   */
  private async kernelCounts(): Promise<KernelCounts> {
    const argv = [...this.prefix(), 'nft', '-j', '-n', 'list', 'table', 'ip', this.table];
    const p = spawnProcess(argv, { env: nftEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    const scanner = new NftCountScanner();
    let failure: Error | undefined;
    let stderr = '';
    p.child.stdout!.setEncoding('utf8');
    p.child.stdout!.on('data', (s: string) => {
      if (failure) return;
      try {
        scanner.feed(s);
      } catch (e) {
        failure = e as Error;
      }
    });
    p.child.stderr!.on('data', (b: Buffer) => void (stderr += b.toString()));
    const exit = await p.exited;
    if (exit.code !== 0) throw commandError(argv, exit, '', stderr);
    if (failure) throw failure;
    return scanner.result();
  }

  private prefix(): string[] {
    return this.opts.netns ? ['nsenter', `--net=${this.opts.netns}`, '--'] : [];
  }

  private nft(args: string[], input?: string) {
    return run([...this.prefix(), 'nft', ...args], input === undefined ? { env: nftEnv() } : { input, env: nftEnv() });
  }

  private async nftFile(text: string): Promise<void> {
    const t0 = performance.now();
    await this.nft(['-f', '-'], text);
    this.stats.lastNftMs = performance.now() - t0;
  }
}

function objKey(o: KObject): string {
  return `${o.metadata.namespace ?? 'default'}/${o.metadata.name}`;
}

function sliceOwner(s: KObject): string | undefined {
  const name = s.metadata?.labels?.[SERVICE_NAME_LABEL];
  return name ? `${s.metadata.namespace ?? 'default'}/${name}` : undefined;
}

function sameVersion(a: KObject, b: KObject): boolean {
  if (a === b) return true;
  const ra = a.metadata.resourceVersion;
  return ra !== undefined && ra === b.metadata.resourceVersion && a.metadata.uid === b.metadata.uid;
}

function sameSlices(a: Map<string, EndpointSlice>, b: Map<string, EndpointSlice>): boolean {
  if (a.size !== b.size) return false;
  for (const [n, s] of a) {
    const t = b.get(n);
    if (!t || !sameVersion(s, t)) return false;
  }
  return true;
}

/** UDP service ports whose endpoints went away (or that had none before): their conntrack entries must go. */
function staleUdp(before: ServicePortModel[], after: ServicePortModel[]) {
  const out: { model: ServicePortModel; gone: { ip: string; port: number }[]; wasEmpty: boolean }[] = [];
  const now = new Map(after.map((m) => [m.id, m]));
  for (const b of before) {
    if (b.protocol !== 'UDP') continue;
    const a = now.get(b.id);
    const keep = new Set((a?.endpoints ?? []).map((e) => `${e.ip}:${e.port}`));
    const gone = b.endpoints.filter((e) => !keep.has(`${e.ip}:${e.port}`));
    if (gone.length) out.push({ model: b, gone, wasEmpty: false });
  }
  const old = new Map(before.map((m) => [m.id, m]));
  for (const a of after) {
    if (a.protocol !== 'UDP' || !a.endpoints.length) continue;
    const b = old.get(a.id);
    if (!b?.endpoints.length) out.push({ model: a, gone: [], wasEmpty: true });
  }
  return out;
}

/**
 * The first difference between the kernel's counts (from `nft -j list table`) and what we want, or undefined.
 * Counts are compared (elements per container, chains, rules per chain): cheap, and any outside edit or loss
 * changes at least one of them.
 */
export function compareKernel(kernel: KernelCounts, want: WantedCounts): string | undefined {
  const { elements: counts, chains, rules } = kernel;
  for (const c of CONTAINERS) {
    const want_ = want.elements.get(c) ?? 0;
    if ((counts.get(c) ?? -1) !== want_) return `${c}: ${counts.get(c) ?? 'missing'} elements, want ${want_}`;
  }
  for (const [name, r] of want.chains) {
    if (!chains.has(name)) return `chain ${name} missing`;
    if ((rules.get(name) ?? 0) !== r) return `chain ${name}: ${rules.get(name) ?? 0} rules, want ${r}`;
  }
  for (const fixed of ['prerouting', 'output', 'services', 'postrouting', 'filter-prerouting', 'filter-output', 'refuse', 'reject-now']) {
    if (!rules.get(fixed)) return `chain ${fixed} empty or missing`;
  }
  return undefined;
}
