// Work that must run once per cluster: it runs only while this process holds its Lease (leader election),
// starts when the Lease is won and stops when it is lost or released.
import { LeaderElector, type LeaderElectionOptions } from '../client/leaderelection.js';

export interface Runnable {
  start(): void | Promise<void>;
  stop(): void | Promise<void>;
}

export type ElectionSettings = Pick<LeaderElectionOptions, 'client' | 'identity' | 'leaseDurationMs' | 'renewDeadlineMs' | 'retryPeriodMs' | 'log'>;

/** The namespace of the control plane's Leases. */
export const LEASE_NAMESPACE = 'kube-system';

export class Singleton {
  readonly elector: LeaderElector;
  /** The start in progress or done, so a stop waits for it and then undoes all of it. */
  private starting?: Promise<void>;

  constructor(
    readonly lease: string,
    e: ElectionSettings,
    private work: Runnable,
  ) {
    const log = e.log ?? (() => {});
    this.elector = new LeaderElector({
      ...e,
      namespace: LEASE_NAMESPACE,
      name: lease,
      log,
      onStartedLeading: () => {
        this.starting = Promise.resolve(this.work.start()).catch((err) => log(`${lease}: start: ${err instanceof Error ? err.message : err}`));
      },
      onStoppedLeading: async () => {
        await this.starting;
        this.starting = undefined;
        await this.work.stop();
      },
    });
  }

  get leading(): boolean {
    return this.elector.isLeader;
  }

  start(): void {
    this.elector.start();
  }

  /** Stop; a leader stops the work and releases the Lease. */
  stop(): Promise<void> {
    return this.elector.stop();
  }
}
