// Probe workers: thresholds, initial delay and period on a clock the test drives, startup gating, liveness
// hold, the events the kubelet records, and no timer left once a container or pod is gone.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import type { Container, Pod } from '../api/types.js';
import { ProbeManager, ProbeState, probeDefaults, type Clock, type ProbeSpec, type ProbeTarget } from './probes.js';
import type { ProbeOutcome } from './probe-handlers.js';
import { ProbeError } from './probe-handlers.js';

class FakeClock implements Clock {
  t = 1_000_000;
  private seq = 0;
  timers = new Map<number, { at: number; fn: () => void }>();
  now(): number {
    return this.t;
  }
  setTimeout(fn: () => void, ms: number): unknown {
    const id = ++this.seq;
    this.timers.set(id, { at: this.t + ms, fn });
    return id;
  }
  clearTimeout(h: unknown): void {
    this.timers.delete(h as number);
  }
  /** Moves time forward by ms, firing due timers in order and letting the probes they start finish. */
  async advance(ms: number): Promise<void> {
    const end = this.t + ms;
    for (;;) {
      await settle();
      let next: [number, { at: number; fn: () => void }] | undefined;
      for (const e of this.timers) if (e[1].at <= end && (!next || e[1].at < next[1].at)) next = e;
      if (!next) break;
      this.timers.delete(next[0]);
      this.t = Math.max(this.t, next[1].at);
      next[1].fn();
    }
    this.t = end;
    await settle();
  }
}

async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
}

function pod(containers: Container[], uid = 'uid-1'): Pod {
  return { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', namespace: 'ns', uid }, spec: { containers } };
}

interface Harness {
  m: ProbeManager;
  clock: FakeClock;
  changes: string[];
  events: string[];
  /** Probes run, as "<container id>/<handler port>". */
  runs: string[];
  /** What the next probes of a port answer. */
  answer: Map<number, ProbeOutcome | Error>;
}

function harness(): Harness {
  const clock = new FakeClock();
  const changes: string[] = [];
  const events: string[] = [];
  const runs: string[] = [];
  const answer = new Map<number, ProbeOutcome | Error>();
  const m = new ProbeManager({
    clock,
    changed: (k) => changes.push(k),
    record: async (_p, type, reason, message) => {
      events.push(`${type} ${reason} ${message}`);
    },
    run: async (p: ProbeSpec, t: ProbeTarget) => {
      const port = Number(p.tcpSocket?.port);
      runs.push(`${t.containerId}/${port}`);
      const a = answer.get(port) ?? { result: 'success', output: '' };
      if (a instanceof Error) throw a;
      return a;
    },
  });
  return { m, clock, changes, events, runs, answer };
}

const tcp = (port: number, more: Partial<ProbeSpec> = {}): ProbeSpec => ({ tcpSocket: { port }, ...more });
const fail = (output: string): ProbeOutcome => ({ result: 'failure', output });

describe('ProbeState', () => {
  test('takes a result only after the threshold is met in a row', () => {
    const s = new ProbeState('readiness', 2, 3);
    assert.equal(s.result, 'failure', 'readiness starts as not ready');
    assert.equal(s.observe(true), false);
    assert.equal(s.result, 'failure');
    assert.equal(s.observe(true), true);
    assert.equal(s.result, 'success');
    assert.equal(s.observe(false), false);
    assert.equal(s.observe(true), false, 'a success in between resets the failure run');
    assert.equal(s.observe(false), false);
    assert.equal(s.observe(false), false);
    assert.equal(s.observe(false), true);
    assert.equal(s.result, 'failure');
    assert.equal(s.observe(false), false, 'more failures change nothing');
  });

  test('liveness starts alive and startup unknown', () => {
    assert.equal(new ProbeState('liveness', 1, 3).result, 'success');
    assert.equal(new ProbeState('startup', 1, 3).result, 'unknown');
  });

  test('defaults are Kubernetes’', () => {
    assert.deepEqual(probeDefaults({}), { initialDelaySeconds: 0, periodSeconds: 10, timeoutSeconds: 1, successThreshold: 1, failureThreshold: 3 });
  });
});

describe('ProbeManager', () => {
  test('readiness: initial delay, period, thresholds, a change reported once per flip', async () => {
    const h = harness();
    const spec = [{ name: 'main', readinessProbe: tcp(80, { initialDelaySeconds: 5, periodSeconds: 2, failureThreshold: 2 }) }];
    h.m.sync(pod(spec), '10.0.0.5', [{ name: 'main', id: 'c1', startedAt: new Date(h.clock.now()) }]);
    assert.deepEqual(h.m.status('c1', spec[0]), { started: true, ready: false });
    await h.clock.advance(4_999);
    assert.deepEqual(h.runs, [], 'nothing runs before initialDelaySeconds');
    await h.clock.advance(1);
    assert.deepEqual(h.runs, ['c1/80']);
    assert.deepEqual(h.changes, ['ns/p']);
    assert.deepEqual(h.m.status('c1', spec[0]), { started: true, ready: true });
    await h.clock.advance(2_000);
    assert.equal(h.runs.length, 2, 'every periodSeconds');
    assert.deepEqual(h.changes, ['ns/p'], 'no change, no callback');
    h.answer.set(80, fail('dial tcp 10.0.0.5:80: connect: connection refused'));
    await h.clock.advance(2_000);
    assert.equal(h.m.status('c1', spec[0]).ready, true, 'one failure is below failureThreshold 2');
    await h.clock.advance(2_000);
    assert.equal(h.m.status('c1', spec[0]).ready, false);
    assert.deepEqual(h.changes, ['ns/p', 'ns/p']);
    assert.deepEqual(h.events, [
      'Warning Unhealthy Readiness probe failed: dial tcp 10.0.0.5:80: connect: connection refused',
      'Warning Unhealthy Readiness probe failed: dial tcp 10.0.0.5:80: connect: connection refused',
    ]);
    h.answer.delete(80);
    await h.clock.advance(2_000);
    assert.equal(h.m.status('c1', spec[0]).ready, true, 'back after one success');
    h.m.removePod('uid-1');
    assert.equal(h.m.size, 0);
    assert.equal(h.clock.timers.size, 0, 'no timer left');
  });

  test('a container without a readiness probe is ready; a probe not run yet is not passed', () => {
    const h = harness();
    const spec = { name: 'main', readinessProbe: tcp(80) };
    assert.deepEqual(h.m.status('none', {}), { started: true, ready: true });
    assert.deepEqual(h.m.status('unknown-id', spec), { started: true, ready: false });
  });

  test('startup gates readiness and liveness, then stops; readiness runs at once after it', async () => {
    const h = harness();
    const spec = [
      {
        name: 'main',
        startupProbe: tcp(1, { periodSeconds: 1, failureThreshold: 30 }),
        readinessProbe: tcp(2, { periodSeconds: 10 }),
        livenessProbe: tcp(3, { periodSeconds: 10 }),
      },
    ];
    h.answer.set(1, fail('not yet'));
    h.m.sync(pod(spec), '10.0.0.5', [{ name: 'main', id: 'c1', startedAt: new Date(h.clock.now()) }]);
    await h.clock.advance(3_500);
    assert.deepEqual(h.runs, ['c1/1', 'c1/1', 'c1/1', 'c1/1'], 'only the startup probe runs');
    assert.deepEqual(h.m.status('c1', spec[0]), { started: false, ready: false });
    h.answer.delete(1);
    await h.clock.advance(1_000);
    assert.deepEqual(h.m.status('c1', spec[0]), { started: true, ready: true });
    assert.deepEqual(h.runs.slice(4).sort(), ['c1/1', 'c1/2', 'c1/3'], 'readiness and liveness ran right after startup succeeded');
    h.runs.length = 0;
    await h.clock.advance(10_000);
    assert.deepEqual(h.runs.sort(), ['c1/2', 'c1/3'], 'the startup probe stopped');
    h.m.close();
    assert.equal(h.clock.timers.size, 0);
  });

  test('liveness failure is reported and the container is no longer probed', async () => {
    const h = harness();
    const spec = [{ name: 'main', livenessProbe: tcp(3, { periodSeconds: 1, failureThreshold: 3 }) }];
    h.answer.set(3, fail('HTTP probe failed with statuscode: 500'));
    h.m.sync(pod(spec), '10.0.0.5', [{ name: 'main', id: 'c1', startedAt: new Date(h.clock.now()) }]);
    await h.clock.advance(1_500);
    assert.equal(h.m.failed('c1'), undefined, 'two failures are below the threshold');
    await h.clock.advance(1_000);
    assert.equal(h.m.failed('c1'), 'liveness');
    assert.deepEqual(h.changes, ['ns/p']);
    await h.clock.advance(10_000);
    assert.equal(h.runs.length, 3, 'on hold after the failure');
    assert.equal(h.events.length, 3);
    assert.equal(h.events[0], 'Warning Unhealthy Liveness probe failed: HTTP probe failed with statuscode: 500');
    // The restarted container is a new id: new workers, the old ones gone.
    h.answer.delete(3);
    h.m.sync(pod(spec), '10.0.0.5', [{ name: 'main', id: 'c2', startedAt: new Date(h.clock.now()) }]);
    assert.equal(h.m.failed('c1'), undefined);
    assert.equal(h.m.size, 1);
    await h.clock.advance(1);
    assert.equal(h.m.failed('c2'), undefined);
    h.m.sync(pod(spec), '10.0.0.5', []);
    assert.equal(h.m.size, 0, 'a stopped container has no workers');
    assert.equal(h.clock.timers.size, 0);
  });

  test('a probe that cannot run keeps the result and says why; gRPC is refused clearly', async () => {
    const h = harness();
    const spec = [{ name: 'main', readinessProbe: tcp(4, { periodSeconds: 1 }) }];
    h.m.sync(pod(spec), '10.0.0.5', [{ name: 'main', id: 'c1', startedAt: new Date(h.clock.now()) }]);
    await h.clock.advance(1);
    assert.equal(h.m.status('c1', spec[0]).ready, true);
    h.answer.set(4, new ProbeError('ProbeUnsupported', 'gRPC probes are not supported by k8ts; use exec, httpGet or tcpSocket'));
    await h.clock.advance(5_000);
    assert.equal(h.m.status('c1', spec[0]).ready, true, 'errors do not count as failures');
    assert.equal(h.events[0], 'Warning Unhealthy Readiness probe errored: gRPC probes are not supported by k8ts; use exec, httpGet or tcpSocket');
    h.m.close();
  });

  test('a warning (redirect elsewhere) is a success with a ProbeWarning event', async () => {
    const h = harness();
    const spec = [{ name: 'main', readinessProbe: tcp(5) }];
    h.answer.set(5, { result: 'warning', output: 'Probe terminated redirects, Response body: moved' });
    h.m.sync(pod(spec), '10.0.0.5', [{ name: 'main', id: 'c1', startedAt: new Date(h.clock.now()) }]);
    await h.clock.advance(1);
    assert.equal(h.m.status('c1', spec[0]).ready, true);
    assert.deepEqual(h.events, ['Warning ProbeWarning Readiness probe warning: Probe terminated redirects, Response body: moved']);
    h.m.close();
  });

  test('an agent restart keeps a container that was ready ready until a probe says otherwise', async () => {
    const h = harness();
    const spec = [{ name: 'main', readinessProbe: tcp(6, { initialDelaySeconds: 30 }) }];
    h.m.sync(pod(spec), '10.0.0.5', [{ name: 'main', id: 'c1', startedAt: new Date(h.clock.now()), wasReady: true }]);
    assert.equal(h.m.status('c1', spec[0]).ready, true);
    assert.deepEqual(h.changes, []);
    h.m.close();
  });

  test('sync is idempotent and only touches its own pod', async () => {
    const h = harness();
    const spec = [{ name: 'main', readinessProbe: tcp(7, { periodSeconds: 1 }) }];
    h.m.sync(pod(spec, 'a'), '10.0.0.5', [{ name: 'main', id: 'ca', startedAt: new Date(h.clock.now()) }]);
    h.m.sync(pod(spec, 'b'), '10.0.0.6', [{ name: 'main', id: 'cb', startedAt: new Date(h.clock.now()) }]);
    h.m.sync(pod(spec, 'a'), '10.0.0.5', [{ name: 'main', id: 'ca', startedAt: new Date(h.clock.now()) }]);
    assert.equal(h.m.size, 2);
    await h.clock.advance(2_500);
    assert.equal(h.runs.filter((r) => r === 'ca/7').length, 3, 'one worker per container, not one per sync');
    h.m.removePod('a');
    assert.equal(h.m.size, 1);
    h.m.removePod('b');
    assert.equal(h.clock.timers.size, 0);
  });
});
