// Where a pod's start goes, step by step: with NODE_DEBUG=k8ts:pods the agent prints one line per pod once
// its first Running status is written, each step as `name=start+duration` in ms since the agent first saw
// the pod bound to it (the informer's event). bench/cluster.ts reads these lines from the agents' logs and
// sums them up beside its start-up rows. Free when NODE_DEBUG does not name k8ts:pods.
import { debuglog } from 'node:util';
import { performance } from 'node:perf_hooks';

const log = debuglog('k8ts:pods');

/** The steps a trace line may name, in the order a pod meets them. */
export type TraceStep = 'queue' | 'sandbox' | 'netns' | 'cni' | 'volumes' | 'network_ready' | 'image' | 'container' | 'status';

interface Trace {
  t0: number;
  steps: string[];
}

export class PodTrace {
  private pods = new Map<string, Trace>();

  /** print: where the lines go (the debug log; tests pass their own, with enabled true). */
  constructor(
    private readonly print: (format: string, ...args: unknown[]) => void = log,
    readonly enabled = log.enabled,
  ) {}

  /** The agent saw the pod (by uid) for the first time: its clock starts. */
  seen(uid: string | undefined): void {
    if (!this.enabled || !uid || this.pods.has(uid)) return;
    this.pods.set(uid, { t0: performance.now(), steps: [] });
  }

  /** A sync of the pod begins: the first one ends its wait in the work queue. */
  dequeued(uid: string): void {
    const t = this.pods.get(uid);
    if (t && !t.steps.length) this.mark(uid, 'queue', t.t0);
  }

  /** Notes a step that began at `start` (performance.now()) and ends now. */
  mark(uid: string, step: TraceStep, start: number): void {
    const t = this.pods.get(uid);
    if (t) t.steps.push(`${step}=${(start - t.t0).toFixed(1)}+${(performance.now() - start).toFixed(1)}`);
  }

  /** Runs f as a step of the pod's start (only timed while the pod is being traced). */
  async step<R>(uid: string, step: TraceStep, f: () => Promise<R>): Promise<R> {
    if (!this.pods.has(uid)) return f();
    const start = performance.now();
    try {
      return await f();
    } finally {
      this.mark(uid, step, start);
    }
  }

  /** The pod's first Running status is written: its line is printed and its trace dropped. */
  running(uid: string, key: string): void {
    const t = this.pods.get(uid);
    if (!t) return;
    this.pods.delete(uid);
    this.print('pod %s uid %s running %s ms: %s', key, uid, (performance.now() - t.t0).toFixed(1), t.steps.join(' '));
  }

  /** The pod is gone before it ran: nothing to print. */
  forget(uid: string): void {
    this.pods.delete(uid);
  }
}

/** One trace line parsed: the pod, its total and each step's start and duration (a step met twice is summed). */
export interface PodTraceLine {
  key: string;
  totalMs: number;
  steps: Map<string, { start: number; ms: number }>;
}

const LINE = /pod (\S+) uid \S+ running ([\d.]+) ms: (.*)$/;
const STEP = /^([a-z_]+)=([\d.]+)\+([\d.]+)$/;

/** The trace lines in an agent's log (other lines are skipped). */
export function parsePodTrace(text: string): PodTraceLine[] {
  const out: PodTraceLine[] = [];
  for (const l of text.split('\n')) {
    const m = LINE.exec(l);
    if (!m) continue;
    const steps = new Map<string, { start: number; ms: number }>();
    for (const w of m[3].split(' ')) {
      const s = STEP.exec(w);
      if (!s) continue;
      const prev = steps.get(s[1]);
      if (prev) prev.ms += Number(s[3]);
      else steps.set(s[1], { start: Number(s[2]), ms: Number(s[3]) });
    }
    out.push({ key: m[1], totalMs: Number(m[2]), steps });
  }
  return out;
}
