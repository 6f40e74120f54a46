// API Priority and Fairness, the small version: kube-apiserver's default flow schemas and priority levels
// reduced to what decides who waits. A request is classified by who sends it into a priority level; each
// level has its share of the server's seats (--max-requests-inflight + --max-mutating-requests-inflight,
// as upstream sums them) and one bounded FIFO queue. A request that finds its level's seats taken waits in
// the queue instead of being refused; it is answered 429 (Retry-After: 1) only when the queue is full or
// its wait runs out. So a level flooded by its clients (1,000 nodes renewing Leases) delays them without
// multiplying their traffic (client-go sends a 429 again every second), and cannot take the seats of
// another level.
//
// What upstream has and this does not: FlowSchema and PriorityLevelConfiguration objects (the levels are
// fixed here), shuffle-sharded queues per level (fairness between the flows of one level: here one FIFO),
// seats lent and borrowed between levels, and requests costing more than one seat (big lists, watches'
// initial events).
import type { UserInfo } from '../api/authorization.js';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

export interface PriorityLevel {
  name: string;
  /** Nominal concurrency shares (upstream's nominalConcurrencyShares); 0 for the exempt level. */
  shares: number;
  /** Requests waiting at most (upstream: queues × queueLengthLimit of the level); 0: refuse at once. */
  queueLength: number;
}

/** Upstream's default levels that the default flow schemas below reach, with their shares and queue sizes. */
export const PRIORITY_LEVELS: readonly PriorityLevel[] = [
  { name: 'exempt', shares: 0, queueLength: 0 },
  { name: 'system', shares: 30, queueLength: 64 * 50 },
  { name: 'leader-election', shares: 10, queueLength: 16 * 50 },
  { name: 'workload-high', shares: 40, queueLength: 128 * 50 },
  { name: 'global-default', shares: 20, queueLength: 128 * 50 },
];

/** The request facts classification reads (from its RequestInfo). */
export interface RequestFacts {
  apiGroup: string;
  resource: string;
}

export interface Classification {
  flowSchema: string;
  level: string;
}

const CONTROL_PLANE_USERS = new Set(['system:kube-controller-manager', 'system:kube-scheduler']);
const LEADER_ELECTION_RESOURCES = new Set(['leases', 'endpoints', 'configmaps']);

/** Upstream's default flow schemas, in their matching order: system:masters exempt; nodes (their Leases,
 *  node and pod status) at `system`; the control plane's leader election; the control plane and kube-system
 *  service accounts (workload controllers); everyone else. */
export function classify(user: UserInfo, req: RequestFacts): Classification {
  if (user.groups.includes('system:masters')) return { flowSchema: 'exempt', level: 'exempt' };
  if (user.groups.includes('system:nodes')) return { flowSchema: 'system-nodes', level: 'system' };
  const controlPlane = CONTROL_PLANE_USERS.has(user.name) || user.name.startsWith('system:serviceaccount:kube-system:');
  const leaderElection =
    req.apiGroup === 'coordination.k8s.io' ? req.resource === 'leases' : req.apiGroup === '' && LEADER_ELECTION_RESOURCES.has(req.resource);
  if (controlPlane && leaderElection) return { flowSchema: 'system-leader-election', level: 'leader-election' };
  if (user.name === 'system:kube-controller-manager') return { flowSchema: 'kube-controller-manager', level: 'workload-high' };
  if (user.name === 'system:kube-scheduler') return { flowSchema: 'kube-scheduler', level: 'workload-high' };
  if (controlPlane) return { flowSchema: 'kube-system-service-accounts', level: 'workload-high' };
  return { flowSchema: 'global-default', level: 'global-default' };
}

/** Why a request got no seat (upstream's `reason` label); `cancelled`: its client went while it waited. */
export type RejectReason = 'queue-full' | 'time-out' | 'cancelled';

export type Admission = { ok: true; release: () => void } | { ok: false; reason: RejectReason };

/** A request waiting in its queue: `admission` settles when it gets a seat or is refused; `cancel()` gives
 *  the wait up (its client went), settling it as `cancelled`. */
export interface Waiting {
  admission: Promise<Admission>;
  cancel(): void;
}

interface Waiter {
  grant: () => void;
}

/** One flow schema's metric children at one level: prom-client hashes label sets on every call by label
 *  object, so each is looked up once. */
interface FlowMetrics {
  inqueue: { inc(): void; dec(): void };
  executing: { inc(): void; dec(): void };
  dispatched: { inc(): void };
  waitedExecuted: { observe(v: number): void };
  waitedRejected: { observe(v: number): void };
  rejected(reason: RejectReason): void;
}

interface LevelState {
  config: PriorityLevel;
  /** Seats (requests executing at once); Infinity when exempt or unlimited. */
  seats: number;
  executing: number;
  queue: Waiter[];
  /** Index of the queue's head: the array is compacted only when the head has passed half of it. */
  head: number;
}

/** Upstream's metric names and labels (apiserver_flowcontrol_*), in the server's prom-client registry. */
class FlowControlMetrics {
  readonly inqueue: Gauge<'priority_level' | 'flow_schema'>;
  readonly executing: Gauge<'priority_level' | 'flow_schema'>;
  readonly dispatched: Counter<'priority_level' | 'flow_schema'>;
  readonly rejected: Counter<'priority_level' | 'flow_schema' | 'reason'>;
  readonly waited: Histogram<'priority_level' | 'flow_schema' | 'execute'>;
  readonly nominalSeats: Gauge<'priority_level'>;

  private flows = new Map<string, FlowMetrics>();

  /** The children of flow schema `c` at its level. */
  of(c: Classification): FlowMetrics {
    const key = `${c.level}/${c.flowSchema}`;
    let f = this.flows.get(key);
    if (!f) {
      const labels = { priority_level: c.level, flow_schema: c.flowSchema };
      f = {
        inqueue: this.inqueue.labels(labels),
        executing: this.executing.labels(labels),
        dispatched: this.dispatched.labels(labels),
        waitedExecuted: this.waited.labels({ ...labels, execute: 'true' }),
        waitedRejected: this.waited.labels({ ...labels, execute: 'false' }),
        rejected: (reason) => this.rejected.inc({ ...labels, reason }),
      };
      this.flows.set(key, f);
    }
    return f;
  }

  constructor(registry: Registry) {
    const registers = [registry];
    this.inqueue = new Gauge({
      name: 'apiserver_flowcontrol_current_inqueue_requests',
      registers,
      labelNames: ['priority_level', 'flow_schema'],
      help: 'Number of requests currently pending in queues of the API Priority and Fairness subsystem',
    });
    this.executing = new Gauge({
      name: 'apiserver_flowcontrol_current_executing_requests',
      registers,
      labelNames: ['priority_level', 'flow_schema'],
      help: 'Number of requests in initial (for a WATCH) or any (for a non-WATCH) execution stage in the API Priority and Fairness subsystem',
    });
    this.dispatched = new Counter({
      name: 'apiserver_flowcontrol_dispatched_requests_total',
      registers,
      labelNames: ['priority_level', 'flow_schema'],
      help: 'Number of requests executed by API Priority and Fairness subsystem',
    });
    this.rejected = new Counter({
      name: 'apiserver_flowcontrol_rejected_requests_total',
      registers,
      labelNames: ['priority_level', 'flow_schema', 'reason'],
      help: 'Number of requests rejected by API Priority and Fairness subsystem',
    });
    this.waited = new Histogram({
      name: 'apiserver_flowcontrol_request_wait_duration_seconds',
      registers,
      labelNames: ['priority_level', 'flow_schema', 'execute'],
      buckets: [0, 0.005, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30],
      help: 'Length of time a request spent waiting in its queue',
    });
    this.nominalSeats = new Gauge({
      name: 'apiserver_flowcontrol_nominal_limit_seats',
      registers,
      labelNames: ['priority_level'],
      help: 'Nominal number of execution seats configured for each priority level',
    });
  }
}

export interface FlowControlOptions {
  /** Seats of the whole server (0: unlimited: every request runs at once, as the in-flight flags' 0). */
  seats: number;
  /** How long a request may wait in its queue (upstream: a quarter of --request-timeout). */
  waitLimitMs: number;
  registry: Registry;
  levels?: readonly PriorityLevel[];
}

export class FlowControl {
  private levels = new Map<string, LevelState>();
  private metrics: FlowControlMetrics;
  readonly waitLimitMs: number;

  constructor(opts: FlowControlOptions) {
    if (!Number.isSafeInteger(opts.seats) || opts.seats < 0) throw new RangeError(`flow control: seats ${opts.seats} is not a whole number ≥ 0`);
    if (!(opts.waitLimitMs > 0)) throw new RangeError(`flow control: wait limit ${opts.waitLimitMs} ms is not > 0`);
    this.waitLimitMs = opts.waitLimitMs;
    this.metrics = new FlowControlMetrics(opts.registry);
    const levels = opts.levels ?? PRIORITY_LEVELS;
    const total = levels.reduce((n, l) => n + l.shares, 0);
    for (const config of levels) {
      // Upstream's nominal limit: ceil(server seats × shares / all shares).
      const seats = config.shares === 0 || opts.seats === 0 ? Number.POSITIVE_INFINITY : Math.max(1, Math.ceil((opts.seats * config.shares) / total));
      this.levels.set(config.name, { config, seats, executing: 0, queue: [], head: 0 });
      if (Number.isFinite(seats)) this.metrics.nominalSeats.set({ priority_level: config.name }, seats);
    }
  }

  /** Seats of a level (Infinity: not limited). */
  seatsOf(level: string): number {
    return this.level(level).seats;
  }

  /** Requests of a level executing and waiting now. */
  usage(level: string): { executing: number; waiting: number } {
    const l = this.level(level);
    return { executing: l.executing, waiting: l.queue.length - l.head };
  }

  /**
   * A seat for a request of class `c`: at once when its level has one free, else after waiting its turn in
   * the level's queue (a Waiting). The seat must be given back with `release()` when the response ends.
   */
  admit(c: Classification): Admission | Waiting {
    const l = this.level(c.level);
    const m = this.metrics.of(c);
    if (l.executing < l.seats && l.queue.length === l.head) {
      m.waitedExecuted.observe(0);
      return { ok: true, release: this.take(l, m) };
    }
    if (l.queue.length - l.head >= l.config.queueLength) {
      m.rejected('queue-full');
      return { ok: false, reason: 'queue-full' };
    }
    let leave!: (reason: RejectReason) => void;
    const admission = new Promise<Admission>((resolve) => {
      const since = performance.now();
      const waited = () => (performance.now() - since) / 1000;
      let done = false;
      const waiter: Waiter = {
        grant: () => {
          done = true;
          clearTimeout(timer);
          m.inqueue.dec();
          m.waitedExecuted.observe(waited());
          resolve({ ok: true, release: this.take(l, m) });
        },
      };
      leave = (reason) => {
        if (done) return;
        done = true;
        const i = l.queue.indexOf(waiter, l.head);
        if (i >= 0) l.queue.splice(i, 1);
        clearTimeout(timer);
        m.inqueue.dec();
        m.waitedRejected.observe(waited());
        m.rejected(reason);
        resolve({ ok: false, reason });
      };
      l.queue.push(waiter);
      m.inqueue.inc();
      const timer = setTimeout(() => leave('time-out'), this.waitLimitMs);
    });
    return { admission, cancel: () => leave('cancelled') };
  }

  private level(name: string): LevelState {
    const l = this.levels.get(name);
    if (!l) throw new Error(`flow control: no priority level ${JSON.stringify(name)}`);
    return l;
  }

  /** Takes a seat of level l; the function returned gives it back (once) to the head of the queue. */
  private take(l: LevelState, m: FlowMetrics): () => void {
    l.executing++;
    m.executing.inc();
    m.dispatched.inc();
    let released = false;
    return () => {
      if (released) return;
      released = true;
      l.executing--;
      m.executing.dec();
      this.dispatch(l);
    };
  }

  /** Hands free seats to the waiters at the head of the queue, oldest first. */
  private dispatch(l: LevelState): void {
    while (l.executing < l.seats && l.head < l.queue.length) {
      const w = l.queue[l.head++];
      w.grant();
    }
    if (l.head > 1024 && l.head * 2 > l.queue.length) {
      l.queue.splice(0, l.head);
      l.head = 0;
    }
  }
}
