// Puts a compiled PolicyState into the kernel: the first time (and after the table was lost) as one
// atomic rewrite, afterwards as one transaction holding only the difference, both through one long-lived
// nft session (nftsession.ts: no process spawn per change). A tiny `alive` set is listed every second, so a table flushed or deleted from outside is back within about a second; the
// guard table (guard.ts) keeps isolated pods closed meanwhile.
import { nftEnv, run } from '../../util/exec.js';
import type { PolicyState } from './compiler.js';
import { Guard } from './guard.js';
import { NftCommandError, NftSession } from './nftsession.js';
import { diffRuleset, fullRuleset, LOG_GROUP, POLICY_TABLE, podObjects, type Direction } from './ruleset.js';

export interface ProgrammerOptions {
  table?: string;
  guardTable?: string;
  logGroup?: number;
  /** Run nft in this network namespace (a path such as /run/netns/x); default: our own. */
  netns?: string;
  /** How often the table's presence is checked; default 1 s. */
  checkMs?: number;
  /** No guard table (benchmarks of the bare layout). */
  noGuard?: boolean;
  log?: (line: string) => void;
}

export interface ProgrammerStats {
  passes: number;
  fullLoads: number;
  recoveries: number;
  lastMs: number;
  lastFullMs: number;
  /** Of the last difference: building its text, and nft taking it (parse, commit, answer). */
  lastTextMs: number;
  lastNftMs: number;
  /** Changes not written because no local pod was isolated before or after them (see pass). */
  idleSkips: number;
  lastError?: string;
}

const EMPTY: PolicyState = { podClass: new Map(), podLocal: new Map(), netClass: [], ingress: new Map(), egress: new Map(), local: new Map() };

export class PolicyProgrammer {
  readonly table: string;
  readonly stats: ProgrammerStats = { passes: 0, fullLoads: 0, recoveries: 0, lastMs: 0, lastFullMs: 0, lastTextMs: 0, lastNftMs: 0, idleSkips: 0 };
  readonly guard?: Guard;
  private applied: PolicyState = EMPTY;
  private needFull = true;
  private timer?: NodeJS.Timeout;
  private chain: Promise<void> = Promise.resolve();
  private latest?: PolicyState;
  private guardKey = '';
  /** Transactions and probes go through one long-lived nft child (no spawn per change). */
  readonly session: NftSession;

  constructor(private o: ProgrammerOptions = {}) {
    this.table = o.table ?? POLICY_TABLE;
    this.session = new NftSession({ netns: o.netns });
    if (!o.noGuard) this.guard = new Guard({ table: o.guardTable, netns: o.netns, log: o.log });
  }

  /** What the kernel holds (as last programmed). */
  get state(): PolicyState {
    return this.applied;
  }

  /** Program `s` (queued behind any pass in flight); resolves once it is in the kernel. */
  apply(s: PolicyState): Promise<void> {
    this.latest = s;
    const done = this.chain
      .then(() => this.pass())
      .catch((e: Error) => {
        this.stats.lastError = e.message;
        this.o.log?.(`policy: programming failed, rewriting the table next: ${e.message}`);
        this.needFull = true;
        throw e;
      });
    this.chain = done.catch(() => undefined);
    return done;
  }

  private async pass(): Promise<void> {
    const s = this.latest;
    if (!s || s === this.applied) return;
    const t0 = performance.now();
    const opts = { table: this.table, logGroup: this.o.logGroup ?? LOG_GROUP };
    // The guard follows the isolated pods (only when they change, or it is not right yet: every sync lists
    // the guard table); it matters only once the policy table is gone, which the probe finds within a second.
    const gk = `${[...s.ingress.keys()].join()}|${[...s.egress.keys()].join()}`;
    // Not awaited: the guard keeps its own order, and the next change must not wait behind its read-back.
    if (this.guard && (gk !== this.guardKey || !this.guard.ok)) void this.guard.sync([...s.ingress.keys()], [...s.egress.keys()]);
    this.guardKey = gk;
    // No local pod isolated, before or after: nothing is judged on this node, so the peer classes need not
    // follow every pod of the cluster (a transaction on every node for each pod that starts anywhere). What
    // the kernel holds stays `applied`, and the change that first isolates a pod carries all of it.
    // Which pods are local is no kernel object (trace and the engine read it): that much follows at once.
    if (!this.needFull && !isolating(s) && !isolating(this.applied)) {
      this.applied = { ...this.applied, local: s.local };
      this.stats.idleSkips++;
      return;
    }
    if (this.needFull) {
      await this.session.transaction(fullRuleset(s, opts));
      this.needFull = false;
      this.stats.fullLoads++;
      this.stats.lastFullMs = performance.now() - t0;
    } else {
      const text = diffRuleset(this.applied, s, opts);
      const t1 = performance.now();
      if (text) await this.session.transaction(text);
      this.stats.lastTextMs = t1 - t0;
      this.stats.lastNftMs = performance.now() - t1;
    }
    this.applied = s;
    this.stats.passes++;
    this.stats.lastMs = performance.now() - t0;
    this.stats.lastError = undefined;
  }

  /** Begin checking that the table is still there (call after the first apply). */
  watch(): void {
    if (this.timer) return;
    this.timer = setInterval(() => void this.probe(), this.o.checkMs ?? 1000);
    this.timer.unref();
  }

  private probing = false;

  private async probe(): Promise<void> {
    if (this.needFull || this.probing) return;
    this.probing = true;
    try {
      await this.probeOnce();
    } finally {
      this.probing = false;
    }
  }

  private async probeOnce(): Promise<void> {
    try {
      await this.session.command(`list set ip ${this.table} alive`);
    } catch (e) {
      if (!this.timer) return;
      // The child itself failed (it is started again on the next request): that says nothing of the table.
      if (!(e instanceof NftCommandError)) {
        this.o.log?.(`policy: ${(e as Error).message}`);
        return;
      }
      this.o.log?.(`policy: table ip ${this.table} is gone, rewriting it`);
      this.stats.recoveries++;
      this.needFull = true;
      const want = this.latest ?? this.applied;
      this.applied = EMPTY;
      await this.apply(want).catch(() => undefined);
    }
    if (this.guard && (!this.guard.running || !this.guard.ok)) await this.guard.sync([...this.applied.ingress.keys()], [...this.applied.egress.keys()]);
  }

  /** Drops so far per local pod and direction ("in"/"out" → address → packets), read from the kernel. */
  async dropCounters(): Promise<Map<string, number>> {
    const out = new Map<string, number>();
    const { stdout } = await this.nft(['-j', 'list', 'counters', 'table', 'ip', this.table]);
    for (const it of JSON.parse(stdout).nftables ?? []) {
      const c = it.counter;
      if (c && typeof c.name === 'string') out.set(c.name, Number(c.packets) || 0);
    }
    return out;
  }

  counterName(dir: Direction, ip: number): string {
    return podObjects(dir, ip).counter;
  }

  /** Stop checking; the tables stay (the guard goes with its child when `teardown` or the process ends). */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.chain;
    await this.session.stop();
  }

  /** Stop and remove both tables. */
  async teardown(): Promise<void> {
    await this.stop();
    await this.guard?.stop();
    await this.nft(['delete', 'table', 'ip', this.table]).catch(() => undefined);
    this.applied = EMPTY;
    this.needFull = true;
  }

  private nft(args: string[], input?: string) {
    const pre = this.o.netns ? ['nsenter', `--net=${this.o.netns}`, '--'] : [];
    return run([...pre, 'nft', ...args], input === undefined ? { env: nftEnv() } : { input, env: nftEnv() });
  }
}

/** Whether a state isolates any local pod (only then does the node judge a packet). */
function isolating(s: PolicyState): boolean {
  return s.ingress.size > 0 || s.egress.size > 0;
}
