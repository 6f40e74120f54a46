// Leader election on a coordination.k8s.io/v1 Lease, with client-go's semantics: candidates try every
// retry period to take a lease whose holder has not renewed it for a lease duration (measured on the
// candidate's own clock from when it saw the record change, so clocks need not agree); the leader renews
// every retry period and, when it cannot renew within the renew deadline, stops leading, which is before
// anyone else may take the lease (deadline + retry < duration). A clean stop releases the lease at once.
import { LEASES } from '../api/kinds.js';
import type { Lease, LeaseSpec } from '../api/types.js';
import { microNow } from '../util/time.js';
import { type Client, errorCode } from './types.js';

export interface LeaderElectionOptions {
  client: Client;
  namespace: string;
  name: string;
  /** Unique per candidate process (client-go: hostname + "_" + a uuid). */
  identity: string;
  /** How long a lease lasts unrenewed before others may take it (default 15 s). */
  leaseDurationMs?: number;
  /** How long the leader keeps trying to renew before it stops leading (default 10 s). */
  renewDeadlineMs?: number;
  /** Time between tries, both to take and to renew (default 2 s). */
  retryPeriodMs?: number;
  /** Now leading: start the work (it runs until onStoppedLeading). */
  onStartedLeading(): void | Promise<void>;
  /** No longer leading (lost or released): stop the work at once. */
  onStoppedLeading(): void | Promise<void>;
  /** The holder changed, as this candidate observed it. */
  onNewLeader?(identity: string): void;
  log?: (line: string) => void;
}

const sameRecord = (a: LeaseSpec | undefined, b: LeaseSpec | undefined) => JSON.stringify(a ?? {}) === JSON.stringify(b ?? {});

export class LeaderElector {
  private readonly leaseDurationMs: number;
  private readonly renewDeadlineMs: number;
  private readonly retryPeriodMs: number;
  private leading = false;
  private stopped = false;
  private running?: Promise<void>;
  private wake?: () => void;
  /** The record as last seen, and when (our clock) it last changed. */
  private observed?: { spec: LeaseSpec; at: number; resourceVersion?: string };
  /** When we last renewed successfully (our clock). */
  private renewedAt = 0;
  private lastLeader?: string;
  private watchdog?: NodeJS.Timeout;
  private readonly log: (line: string) => void;

  constructor(private o: LeaderElectionOptions) {
    this.leaseDurationMs = o.leaseDurationMs ?? 15_000;
    this.renewDeadlineMs = o.renewDeadlineMs ?? 10_000;
    this.retryPeriodMs = o.retryPeriodMs ?? 2_000;
    if (this.leaseDurationMs <= this.renewDeadlineMs) throw new Error('leader election: the lease duration must be longer than the renew deadline');
    if (this.renewDeadlineMs <= this.retryPeriodMs * 1.2) throw new Error('leader election: the renew deadline must be longer than 1.2 × the retry period');
    this.log = o.log ?? (() => {});
  }

  get isLeader(): boolean {
    return this.leading;
  }

  /** The holder as this candidate last saw it. */
  get leader(): string | undefined {
    return this.lastLeader;
  }

  start(): void {
    this.stopped = false;
    this.running ??= this.loop().finally(() => (this.running = undefined));
  }

  /** Stop campaigning; a leader stops its work and releases the lease so another takes over at once. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.wake?.();
    await this.running;
  }

  private get what(): string {
    return `${this.o.namespace}/${this.o.name}`;
  }

  private async loop(): Promise<void> {
    while (!this.stopped) {
      // Candidate: try every retry period (with jitter, so candidates do not try in step).
      if (!(await this.tryAcquireOrRenew())) {
        await this.sleep(this.retryPeriodMs * (1 + Math.random() * 0.2));
        continue;
      }
      await this.lead();
    }
  }

  private async lead(): Promise<void> {
    this.leading = true;
    this.renewedAt = Date.now();
    this.log(`${this.o.identity} is now leading ${this.what}`);
    // A stalled event loop must not keep a leader that could not have renewed in time.
    this.watchdog = setInterval(
      () => {
        if (this.leading && Date.now() - this.renewedAt > this.renewDeadlineMs) void this.stepDown('renew deadline passed');
      },
      Math.min(500, this.retryPeriodMs),
    );
    this.watchdog.unref();
    // The work starts beside the renew loop (client-go runs it in its own goroutine): a slow start must
    // not delay renewals.
    void Promise.resolve()
      .then(() => this.o.onStartedLeading())
      .catch((e: unknown) => {
        this.log(`${this.what}: starting the work failed: ${e instanceof Error ? e.message : e}`);
      });
    while (this.leading && !this.stopped) {
      await this.sleep(this.retryPeriodMs);
      if (!this.leading || this.stopped) break;
      // One renew round: keep trying until it works or the deadline (from the round's start) passes.
      const deadline = Date.now() + this.renewDeadlineMs;
      let ok = false;
      while (!ok && this.leading && !this.stopped && Date.now() < deadline) {
        const r = await this.tryAcquireOrRenew(deadline - Date.now());
        if (r === 'taken') break;
        ok = r === true;
        if (!ok) await this.sleep(Math.min(this.retryPeriodMs, Math.max(0, deadline - Date.now())));
      }
      if (this.stopped) break;
      if (!ok && this.leading) await this.stepDown('failed to renew the lease within the renew deadline');
    }
    if (this.stopped && this.leading) {
      await this.stepDown('stopping');
      await this.release();
    }
  }

  private async stepDown(why: string): Promise<void> {
    if (!this.leading) return;
    this.leading = false;
    clearInterval(this.watchdog);
    this.log(`${this.o.identity} stopped leading ${this.what}: ${why}`);
    try {
      await this.o.onStoppedLeading();
    } catch (e) {
      this.log(`${this.what}: stopping the work: ${e instanceof Error ? e.message : e}`);
    }
  }

  /** Take or renew the lease: true on success, false when it could not (held, conflict, error), 'taken'
   *  when, leading, we find another holder in it. */
  private async tryAcquireOrRenew(timeoutMs = this.renewDeadlineMs): Promise<boolean | 'taken'> {
    const now = Date.now();
    const c = this.o.client;
    try {
      const lease = await withTimeout(c.get(LEASES, this.o.namespace, this.o.name), timeoutMs);
      const mine: LeaseSpec = {
        holderIdentity: this.o.identity,
        leaseDurationSeconds: Math.ceil(this.leaseDurationMs / 1000),
        acquireTime: microNow(),
        renewTime: microNow(),
        leaseTransitions: 0,
      };
      if (!lease) {
        const made = await withTimeout(
          c.create(LEASES, this.o.namespace, {
            apiVersion: 'coordination.k8s.io/v1',
            kind: 'Lease',
            metadata: { name: this.o.name, namespace: this.o.namespace },
            spec: mine,
          }),
          timeoutMs,
        );
        return this.took(made, now);
      }
      const spec = lease.spec ?? {};
      if (!this.observed || !sameRecord(this.observed.spec, spec)) this.observed = { spec, at: now };
      this.observed.resourceVersion = lease.metadata.resourceVersion;
      const holder = spec.holderIdentity ?? '';
      this.noteLeader(holder);
      const durationMs = (spec.leaseDurationSeconds ?? 0) * 1000;
      if (holder && holder !== this.o.identity && this.observed.at + durationMs > now) return this.leading ? 'taken' : false;
      if (holder === this.o.identity) {
        mine.acquireTime = spec.acquireTime ?? mine.acquireTime;
        mine.leaseTransitions = spec.leaseTransitions ?? 0;
      } else {
        mine.leaseTransitions = (spec.leaseTransitions ?? 0) + 1;
      }
      // The resourceVersion read is a precondition: of two candidates, one write wins.
      const written = await withTimeout(c.update(LEASES, this.o.namespace, { ...lease, spec: mine }), timeoutMs);
      return this.took(written, now);
    } catch (e) {
      if (errorCode(e) !== 409) this.log(`${this.what}: ${e instanceof Error ? e.message : e}`);
      return false;
    }
  }

  private took(lease: Lease, at: number): true {
    this.observed = { spec: lease.spec ?? {}, at, resourceVersion: lease.metadata.resourceVersion };
    this.renewedAt = at;
    this.noteLeader(this.o.identity);
    return true;
  }

  private noteLeader(holder: string): void {
    if (holder === this.lastLeader) return;
    this.lastLeader = holder;
    if (holder) this.o.onNewLeader?.(holder);
  }

  /** Give the lease up (client-go's ReleaseOnCancel): no holder, so a candidate takes it at its next try. */
  private async release(): Promise<void> {
    try {
      const lease = await withTimeout(this.o.client.get(LEASES, this.o.namespace, this.o.name), this.retryPeriodMs);
      if (lease?.spec?.holderIdentity !== this.o.identity) return;
      await withTimeout(
        this.o.client.update(LEASES, this.o.namespace, {
          ...lease,
          spec: { ...lease.spec, holderIdentity: undefined, leaseDurationSeconds: 1, renewTime: microNow() },
        }),
        this.retryPeriodMs,
      );
      this.log(`${this.o.identity} released ${this.what}`);
    } catch (e) {
      this.log(`${this.what}: release: ${e instanceof Error ? e.message : e}`);
    }
  }

  private sleep(ms: number): Promise<void> {
    if (this.stopped) return Promise.resolve();
    return new Promise((r) => {
      const t = setTimeout(done, ms);
      const self = this;
      function done() {
        clearTimeout(t);
        if (self.wake === done) self.wake = undefined;
        r();
      }
      this.wake = done;
    });
  }
}

/** p, or a rejection once ms have passed (the request may still finish; its answer is then ignored). */
function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`no answer within ${Math.round(ms)} ms`)), Math.max(1, ms));
    p.then(
      (v) => {
        clearTimeout(t);
        resolve(v);
      },
      (e: unknown) => {
        clearTimeout(t);
        reject(e);
      },
    );
  });
}
