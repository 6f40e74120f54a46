// client-go's work-queue metrics (workqueue_depth, _adds_total, _queue_duration_seconds,
// _work_duration_seconds, _retries_total, by queue `name`) on a registry the process hands in: no global
// provider, so two control planes in one process keep their own series.
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

/** client-go's buckets: exponential from 10 ns by ×10, ten of them (up to 10 s). */
const BUCKETS = Array.from({ length: 10 }, (_, i) => 1e-8 * 10 ** i);

/** What one queue reports; the queue calls these at its events. */
export interface QueueMetrics {
  /** A key entered the queue (or was marked to run again while being handled). */
  add(key: string): void;
  /** A worker took the key. */
  get(key: string): void;
  /** The worker finished the key. */
  done(key: string): void;
  retry(): void;
  /** The queue stopped with these keys still counted as waiting. */
  drop(keys: number): void;
}

export class WorkQueueMetricsProvider {
  private depth: Gauge<'name'>;
  private adds: Counter<'name'>;
  private latency: Histogram<'name'>;
  private work: Histogram<'name'>;
  private retries: Counter<'name'>;

  constructor(registry: Registry) {
    const registers = [registry];
    this.depth = new Gauge({ name: 'workqueue_depth', help: 'Current depth of workqueue', labelNames: ['name'], registers });
    this.adds = new Counter({ name: 'workqueue_adds_total', help: 'Total number of adds handled by workqueue', labelNames: ['name'], registers });
    this.latency = new Histogram({
      name: 'workqueue_queue_duration_seconds',
      help: 'How long in seconds an item stays in workqueue before being requested.',
      labelNames: ['name'],
      buckets: BUCKETS,
      registers,
    });
    this.work = new Histogram({
      name: 'workqueue_work_duration_seconds',
      help: 'How long in seconds processing an item from workqueue takes.',
      labelNames: ['name'],
      buckets: BUCKETS,
      registers,
    });
    this.retries = new Counter({ name: 'workqueue_retries_total', help: 'Total number of retries handled by workqueue', labelNames: ['name'], registers });
  }

  /** The metrics of the queue called `name` (a restarted controller's new queue reports under the same name). */
  forQueue(name: string): QueueMetrics {
    const l = { name };
    const depth = this.depth.labels(l),
      adds = this.adds.labels(l),
      latency = this.latency.labels(l),
      work = this.work.labels(l),
      retries = this.retries.labels(l);
    depth.inc(0); // the series exists from the start
    const added = new Map<string, number>();
    const started = new Map<string, number>();
    return {
      add(key) {
        adds.inc();
        depth.inc();
        if (!added.has(key)) added.set(key, performance.now());
      },
      get(key) {
        depth.dec();
        const t = added.get(key);
        if (t !== undefined) {
          latency.observe((performance.now() - t) / 1000);
          added.delete(key);
        }
        started.set(key, performance.now());
      },
      done(key) {
        const t = started.get(key);
        if (t !== undefined) {
          work.observe((performance.now() - t) / 1000);
          started.delete(key);
        }
      },
      retry() {
        retries.inc();
      },
      drop(keys) {
        depth.dec(keys);
        added.clear();
        started.clear();
      },
    };
  }
}
