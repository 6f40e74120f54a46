// Priority and Fairness's classification and queues, with real timers and promises; the server's use of
// them with real requests is in limits.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Registry } from 'prom-client';
import { type Admission, FlowControl, type Waiting, classify } from './flowcontrol.js';

const user = (name: string, ...groups: string[]) => ({ name, groups: ['system:authenticated', ...groups] });
const leases = { apiGroup: 'coordination.k8s.io', resource: 'leases' };
const pods = { apiGroup: '', resource: 'pods' };
const GLOBAL = { flowSchema: 'global-default', level: 'global-default' };

function waiting(a: Admission | Waiting): Waiting {
  assert.ok('admission' in a, 'the request waits');
  return a;
}

function granted(a: Admission | Waiting): () => void {
  assert.ok(!('admission' in a) && a.ok, 'the request gets a seat at once');
  return a.release;
}

test('requests are classified by who sends them, as the default flow schemas', () => {
  assert.deepEqual(classify(user('admin', 'system:masters'), pods), { flowSchema: 'exempt', level: 'exempt' });
  assert.deepEqual(classify(user('system:node:n1', 'system:nodes'), leases), { flowSchema: 'system-nodes', level: 'system' });
  assert.deepEqual(classify(user('system:kube-scheduler'), leases), { flowSchema: 'system-leader-election', level: 'leader-election' });
  assert.deepEqual(classify(user('system:kube-scheduler'), pods), { flowSchema: 'kube-scheduler', level: 'workload-high' });
  assert.deepEqual(classify(user('system:serviceaccount:kube-system:job-controller'), pods), {
    flowSchema: 'kube-system-service-accounts',
    level: 'workload-high',
  });
  assert.deepEqual(classify(user('system:serviceaccount:default:app'), leases), GLOBAL);
  assert.deepEqual(classify(user('bob'), pods), GLOBAL);
});

test('each level gets its share of the seats, rounded up; the exempt level and a server of 0 seats are not limited', () => {
  const fc = new FlowControl({ seats: 600, waitLimitMs: 1000, registry: new Registry() });
  assert.equal(fc.seatsOf('system'), 180);
  assert.equal(fc.seatsOf('leader-election'), 60);
  assert.equal(fc.seatsOf('workload-high'), 240);
  assert.equal(fc.seatsOf('global-default'), 120);
  assert.equal(fc.seatsOf('exempt'), Number.POSITIVE_INFINITY);
  assert.equal(new FlowControl({ seats: 0, waitLimitMs: 1000, registry: new Registry() }).seatsOf('system'), Number.POSITIVE_INFINITY);
  assert.throws(() => new FlowControl({ seats: -1, waitLimitMs: 1000, registry: new Registry() }), /seats -1 is not a whole number/);
  assert.throws(() => fc.admit({ flowSchema: 'x', level: 'nope' }), /no priority level "nope"/);
});

test('waiters get freed seats in arrival order; a full queue refuses at once; a wait ends with time-out or when given up', async () => {
  const levels = [{ name: 'global-default', shares: 1, queueLength: 2 }];
  const registry = new Registry();
  const fc = new FlowControl({ seats: 1, waitLimitMs: 200, registry, levels });
  const first = granted(fc.admit(GLOBAL));
  const a = waiting(fc.admit(GLOBAL));
  const b = waiting(fc.admit(GLOBAL));
  assert.deepEqual(fc.admit(GLOBAL), { ok: false, reason: 'queue-full' });
  assert.deepEqual(fc.usage('global-default'), { executing: 1, waiting: 2 });
  const order: string[] = [];
  void a.admission.then(() => order.push('a'));
  void b.admission.then(() => order.push('b'));
  first();
  first(); // a second release gives nothing back
  const got = await a.admission;
  assert.ok(got.ok);
  assert.deepEqual(fc.usage('global-default'), { executing: 1, waiting: 1 });
  got.release();
  const gotB = await b.admission;
  assert.ok(gotB.ok);
  assert.deepEqual(order, ['a', 'b']);
  // The seat stays taken: the next waiter's wait runs out; another one gives up.
  const late = waiting(fc.admit(GLOBAL));
  const gone = waiting(fc.admit(GLOBAL));
  gone.cancel();
  assert.deepEqual(await gone.admission, { ok: false, reason: 'cancelled' });
  const t0 = performance.now();
  assert.deepEqual(await late.admission, { ok: false, reason: 'time-out' });
  assert.ok(performance.now() - t0 >= 150, 'refused when its wait ran out, not before');
  gotB.release();
  assert.deepEqual(fc.usage('global-default'), { executing: 0, waiting: 0 });
  granted(fc.admit(GLOBAL))();
  const text = await registry.metrics();
  for (const reason of ['queue-full', 'time-out', 'cancelled']) {
    assert.match(text, new RegExp(`apiserver_flowcontrol_rejected_requests_total\\{[^}]*reason="${reason}"[^}]*\\} 1`));
  }
  assert.match(text, /apiserver_flowcontrol_dispatched_requests_total\{[^}]*\} 4/);
  assert.match(text, /apiserver_flowcontrol_current_inqueue_requests\{[^}]*\} 0/);
  assert.match(text, /apiserver_flowcontrol_current_executing_requests\{[^}]*\} 0/);
});
