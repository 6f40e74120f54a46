// What every controller is given and what it offers: the API (a Client) and the process's shared
// informers; start (after its caches have synced) and stop (its handlers and queue; the informers stay,
// so a controller started again resumes from the shared caches without a list).
import type { SharedInformerFactory } from '../client/factory.js';
import type { Registration } from '../client/informer.js';
import type { Client } from '../client/types.js';
import type { QueueMetrics, WorkQueueMetricsProvider } from '../client/workqueuemetrics.js';

export interface ControllerContext {
  client: Client;
  informers: SharedInformerFactory;
  /** Where work queues report workqueue_* metrics (the process's registry); absent in tests that do not look. */
  queueMetrics?: WorkQueueMetricsProvider;
}

export interface Controller {
  start(): Promise<void>;
  stop(): void;
}

/** Handler registrations a controller removes when it stops. */
export class Registrations {
  private regs: Registration[] = [];

  add(...r: Registration[]): void {
    this.regs.push(...r);
  }

  removeAll(): void {
    for (const r of this.regs.splice(0)) r.remove();
  }
}

/** The metrics of a controller's work queue under client-go's queue name; none when the process keeps no metrics. */
export function queueMetrics(ctx: ControllerContext, name: string): QueueMetrics | undefined {
  return ctx.queueMetrics?.forQueue(name);
}
