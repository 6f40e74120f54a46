// The proxy's model and ruleset text without a kernel: which endpoints a service port gets, and what
// nftables elements and commands follow from it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildModel, DEFAULT_AFFINITY_SECONDS, serviceModel } from './model.js';
import { type Desired, desiredCounts, desiredState, diffDesired, diffRuleset, emptyDesired, fragment, fullRuleset, loadKey, toDesired } from './ruleset.js';
import { Ledger } from './ledger.js';
import { compareKernel } from './proxier.js';
import { NftCountScanner } from './nftcount.js';

/** The nft text of turning `a` into `b`, as the proxy sends it when the change is not elements only. */
const diffText = (t: string, a: Desired, b: Desired) => diffRuleset(t, diffDesired(a, b), b);
import { service, slice } from './testing.js';

const node = { nodeName: 'a' };

test('ready endpoints only; serving+terminating ones when none is ready', () => {
  const svc = service({ name: 'w', clusterIP: '10.96.0.1', ports: [{ port: 80 }] });
  const [m] = buildModel(
    [svc],
    [
      slice(
        'w',
        [{ port: 8080 }],
        [
          { ip: '10.244.0.2', node: 'a' },
          { ip: '10.244.0.3', ready: false, serving: true, terminating: true },
          { ip: '10.244.0.4', ready: false, serving: false },
        ],
      ),
    ],
    node,
  );
  assert.deepEqual(m.endpoints, [{ ip: '10.244.0.2', port: 8080 }]);
  const [t] = buildModel(
    [svc],
    [
      slice(
        'w',
        [{ port: 8080 }],
        [
          { ip: '10.244.0.3', ready: false, serving: true, terminating: true },
          { ip: '10.244.0.4', ready: false, serving: false, terminating: true },
        ],
      ),
    ],
    node,
  );
  assert.deepEqual(t.endpoints, [{ ip: '10.244.0.3', port: 8080 }]);
});

test('slices are merged and deduplicated; ports match by name and protocol; other services ignored', () => {
  const svc = service({
    name: 'w',
    clusterIP: '10.96.0.1',
    ports: [
      { name: 'http', port: 80 },
      { name: 'dns', port: 53, protocol: 'UDP' },
    ],
  });
  const models = buildModel(
    [svc],
    [
      slice(
        'w',
        [
          { name: 'http', port: 8080 },
          { name: 'dns', port: 5353, protocol: 'UDP' },
        ],
        [{ ip: '10.244.0.2' }, { ip: '10.244.0.3' }],
        'w-1',
      ),
      slice('w', [{ name: 'http', port: 8080 }], [{ ip: '10.244.0.3' }, { ip: '10.244.0.9' }], 'w-2'),
      slice('other', [{ name: 'http', port: 9999 }], [{ ip: '10.244.0.7' }], 'o-1'),
      slice('w', [{ name: 'http', port: 8080 }], [{ ip: '10.244.0.8' }], 'w-3', 'elsewhere'),
    ],
    node,
  );
  const byId = new Map(models.map((m) => [m.id, m]));
  assert.deepEqual(
    byId.get('default/w:http/TCP')!.endpoints.map((e) => `${e.ip}:${e.port}`),
    ['10.244.0.2:8080', '10.244.0.3:8080', '10.244.0.9:8080'],
  );
  assert.deepEqual(
    byId.get('default/w:dns/UDP')!.endpoints.map((e) => `${e.ip}:${e.port}`),
    ['10.244.0.2:5353', '10.244.0.3:5353'],
  );
});

test('ExternalName and headless services get no rules; LoadBalancer ingress IPs and NodePorts are carried', () => {
  const ext = { metadata: { name: 'e', namespace: 'default' }, spec: { type: 'ExternalName', externalName: 'example.com' } };
  const headless = { metadata: { name: 'h', namespace: 'default' }, spec: { clusterIP: 'None', clusterIPs: ['None'], ports: [{ port: 80 }] } };
  const lb = service({
    name: 'lb',
    type: 'LoadBalancer',
    clusterIP: '10.96.0.5',
    externalIPs: ['192.0.2.9'],
    loadBalancerIPs: ['192.0.2.10'],
    ports: [{ port: 443, nodePort: 31443 }],
  });
  const models = buildModel([ext, headless, lb], [], node);
  assert.equal(models.length, 1);
  assert.deepEqual(models[0].loadBalancerIPs, ['192.0.2.10']);
  assert.deepEqual(models[0].externalIPs, ['192.0.2.9']);
  assert.equal(models[0].nodePort, 31443);
  // A ClusterIP service's stale ingress status is not programmed.
  const plain = service({ name: 'p', clusterIP: '10.96.0.6', loadBalancerIPs: ['192.0.2.11'], ports: [{ port: 80, nodePort: 30001 }] });
  const [p] = buildModel([plain], [], node);
  assert.deepEqual(p.loadBalancerIPs, []);
  assert.equal(p.nodePort, undefined);
});

test('traffic policies and affinity', () => {
  const svc = service({
    name: 'w',
    type: 'NodePort',
    clusterIP: '10.96.0.1',
    externalTrafficPolicy: 'Local',
    internalTrafficPolicy: 'Local',
    ports: [{ port: 80, nodePort: 30080 }],
  });
  const [m] = buildModel(
    [svc],
    [
      slice(
        'w',
        [{ port: 8080 }],
        [
          { ip: '10.244.0.2', node: 'a' },
          { ip: '10.244.1.2', node: 'b' },
        ],
      ),
    ],
    node,
  );
  assert.equal(m.externalLocal, true);
  assert.equal(m.internalLocal, true);
  assert.deepEqual(m.localEndpoints, [{ ip: '10.244.0.2', port: 8080 }]);
  assert.equal(m.endpoints.length, 2);
  const aff = service({ name: 's', clusterIP: '10.96.0.2', ports: [{ port: 80 }], sessionAffinity: { timeoutSeconds: 30 } });
  assert.equal(buildModel([aff], [], node)[0].affinitySeconds, 30);
  const def = { ...aff, spec: { ...aff.spec, sessionAffinityConfig: undefined } };
  assert.equal(buildModel([def], [], node)[0].affinitySeconds, DEFAULT_AFFINITY_SECONDS);
});

test('elements: no endpoint → refused; Local without a local endpoint → drop; Cluster external → masquerading pick', () => {
  const empty = service({ name: 'e', type: 'NodePort', clusterIP: '10.96.0.1', ports: [{ port: 80, nodePort: 30080 }] });
  const local = service({ name: 'l', type: 'NodePort', clusterIP: '10.96.0.2', externalTrafficPolicy: 'Local', ports: [{ port: 80, nodePort: 30081 }] });
  const cluster = service({ name: 'c', type: 'NodePort', clusterIP: '10.96.0.3', externalIPs: ['192.0.2.1'], ports: [{ port: 80, nodePort: 30082 }] });
  const d = desiredState(
    buildModel(
      [empty, local, cluster],
      [
        slice('l', [{ port: 8080 }], [{ ip: '10.244.1.2', node: 'b' }]),
        slice(
          'c',
          [{ port: 8080 }],
          [
            { ip: '10.244.0.2', node: 'a' },
            { ip: '10.244.0.3', node: 'a' },
          ],
        ),
      ],
      node,
    ),
  );
  const el = (c: string) => d.elements.get(c)!;
  assert.ok(el('noeps').has('10.96.0.1 . tcp . 80'));
  assert.ok(el('npnoeps').has('tcp . 30080'));
  assert.equal(el('nodeports').get('tcp . 30081'), 'drop');
  assert.equal(el('services').get('10.96.0.2 . tcp . 80'), 'goto pick-1', 'ClusterIP still reaches the remote endpoint');
  assert.equal(el('services').get('10.96.0.3 . tcp . 80'), 'goto pick-2');
  assert.equal(el('services').get('192.0.2.1 . tcp . 80'), 'goto xpick-2');
  assert.equal(el('nodeports').get('tcp . 30082'), 'goto np-xpick-2');
  assert.equal(el('backends').get('10.96.0.3 . tcp . 80 . 1'), '10.244.0.3 . 8080');
  assert.equal(el('npbackends').get('tcp . 30082 . 0'), '10.244.0.2 . 8080');
  assert.ok(el('hairpin').has('10.244.0.2 . 10.244.0.2'));
  assert.ok(!el('hairpin').has('10.244.1.2 . 10.244.1.2'), 'only local endpoints can hairpin here');
  const text = fullRuleset('t', d, 2);
  assert.match(text, /add rule ip t np-xpick-2 meta mark set meta mark \| 0x4000 dnat ip to meta l4proto \. th dport \. numgen random mod 2 map @npbackends/);
});

test('an endpoint change is a delete and an add of one element; nothing else', () => {
  const svc = service({ name: 'w', clusterIP: '10.96.0.1', ports: [{ port: 80 }] });
  const a = desiredState(buildModel([svc], [slice('w', [{ port: 8080 }], [{ ip: '10.244.0.2' }, { ip: '10.244.0.3' }])], node));
  const b = desiredState(buildModel([svc], [slice('w', [{ port: 8080 }], [{ ip: '10.244.0.2' }, { ip: '10.244.0.4' }])], node));
  assert.equal(
    diffText('t', a, b),
    ['delete element ip t backends { 10.96.0.1 . tcp . 80 . 1 }', 'add element ip t backends { 10.96.0.1 . tcp . 80 . 1 : 10.244.0.4 . 8080 }', ''].join('\n'),
  );
  assert.equal(diffText('t', a, a), '');
});

test('ledger: an element two services share stays until both are gone', () => {
  const eps = [{ ip: '10.244.0.2', node: 'a' }];
  const one = desiredState(buildModel([service({ name: 'x', clusterIP: '10.96.0.1', ports: [{ port: 80 }] })], [slice('x', [{ port: 80 }], eps)], node));
  const two = desiredState(buildModel([service({ name: 'y', clusterIP: '10.96.0.2', ports: [{ port: 80 }] })], [slice('y', [{ port: 80 }], eps)], node));
  const l = new Ledger();
  const added = l.replace([
    [undefined, one],
    [undefined, two],
  ]);
  assert.match(diffText('t', added.before, added.after), /add element ip t hairpin \{ 10\.244\.0\.2 \. 10\.244\.0\.2 \}/);
  const drop1 = l.replace([[one, undefined]]);
  assert.doesNotMatch(diffText('t', drop1.before, drop1.after), /hairpin/);
  const drop2 = l.replace([[two, undefined]]);
  assert.match(diffText('t', drop2.before, drop2.after), /delete element ip t hairpin/);
  assert.equal(l.counts().elements.get('services'), 0);
});

test('affinity chains: one set per endpoint with the timeout; gone when affinity is turned off', () => {
  const eps = slice('s', [{ port: 8080 }], [{ ip: '10.244.0.2' }, { ip: '10.244.0.3' }]);
  const on = desiredState(
    buildModel([service({ name: 's', clusterIP: '10.96.0.2', ports: [{ port: 80 }], sessionAffinity: { timeoutSeconds: 30 } })], [eps], node),
  );
  assert.equal(on.affinitySets.size, 2);
  assert.deepEqual([...on.affinitySets.values()], [30, 30]);
  const off = desiredState(buildModel([service({ name: 's', clusterIP: '10.96.0.2', ports: [{ port: 80 }] })], [eps], node));
  const text = diffText('t', on, off);
  assert.match(text, /delete set ip t affs-/);
  assert.match(text, /delete chain ip t aff-/);
  assert.ok(text.indexOf('delete element ip t services') < text.indexOf('delete chain'), 'the verdict goes before its chain');
});

test('compareKernel notices missing elements and rules', () => {
  const d = desiredState(
    buildModel([service({ name: 'w', clusterIP: '10.96.0.1', ports: [{ port: 80 }] })], [slice('w', [{ port: 80 }], [{ ip: '10.244.0.2', node: 'a' }])], node),
  );
  const fixed = ['prerouting', 'output', 'services', 'postrouting', 'filter-prerouting', 'filter-output', 'refuse', 'reject-now'];
  const kernel = (svcElems: number) => ({
    nftables: [
      ...['services', 'backends', 'hairpin'].map((name) => ({ map: { name, elem: Array(name === 'services' ? svcElems : 1).fill(0) } })),
      ...['nodeports', 'npbackends', 'noeps', 'npnoeps'].map((name) => ({ set: { name } })),
      ...fixed.map((name) => ({ chain: { name } })),
      ...fixed.map((chain) => ({ rule: { chain } })),
    ],
  });
  const counts = (doc: object) => {
    const s = new NftCountScanner();
    s.feed(JSON.stringify(doc));
    return s.result();
  };
  assert.equal(compareKernel(counts(kernel(1)), desiredCounts(d)), undefined);
  assert.match(compareKernel(counts(kernel(0)), desiredCounts(d))!, /services: 0 elements, want 1/);
  assert.match(compareKernel(counts({ nftables: [] }), desiredCounts(emptyDesired()))!, /missing/);
});

test('a full load names protocols by number and fills the maps after the rules', () => {
  assert.equal(loadKey('services', '10.96.0.1 . udp . 53'), '10.96.0.1 . 17 . 53');
  assert.equal(loadKey('backends', '10.96.0.1 . tcp . 80 . 1'), '10.96.0.1 . 6 . 80 . 1');
  assert.equal(loadKey('npbackends', 'sctp . 30000 . 0'), '132 . 30000 . 0');
  assert.equal(loadKey('npnoeps', 'tcp . 30080'), '6 . 30080');
  assert.equal(loadKey('hairpin', '10.244.0.2 . 10.244.0.2'), '10.244.0.2 . 10.244.0.2');
  const d = desiredState(
    buildModel(
      [service({ name: 'w', clusterIP: '10.96.0.1', ports: [{ port: 80 }] })],
      [slice('w', [{ port: 8080 }], [{ ip: '10.244.0.2', node: 'a' }])],
      node,
    ),
  );
  const text = fullRuleset('t', d, 1);
  assert.match(text, /add element ip t backends \{ 10\.96\.0\.1 \. 6 \. 80 \. 0 : 10\.244\.0\.2 \. 8080 \}/);
  assert.ok(text.lastIndexOf('add rule') < text.indexOf('add element'), 'every rule binds its map while the map is empty');
});

test('serviceModel for one service equals buildModel; the compact fragment equals the Desired', () => {
  const svc = service({
    name: 'm',
    type: 'NodePort',
    clusterIP: '10.96.0.9',
    ports: [
      { name: 'b', port: 81, nodePort: 30001 },
      { name: 'a', port: 80, protocol: 'UDP' },
    ],
  });
  const slices = [
    slice(
      'm',
      [
        { name: 'a', port: 53, protocol: 'UDP' },
        { name: 'b', port: 8081 },
      ],
      [
        { ip: '10.244.0.9', node: 'a' },
        { ip: '10.244.0.3', node: 'b' },
        { ip: '10.244.0.9', node: 'a' },
      ],
    ),
    slice('m', [{ name: 'b', port: 8081 }], [{ ip: '10.244.0.7', node: 'a', ready: false, serving: true, terminating: true }], 'm-2'),
  ];
  const one = serviceModel(svc, slices, node);
  assert.deepEqual(one, buildModel([svc], slices, node));
  assert.deepEqual(
    one.map((m) => m.endpoints.map((e) => e.ip)),
    [
      ['10.244.0.3', '10.244.0.9'],
      ['10.244.0.3', '10.244.0.9'],
    ],
    'sorted, deduplicated, the terminating one left out',
  );
  // Both ports name the same local endpoint: the fragment carries its hairpin pair twice, the ledger counts it
  // twice and lets it go only when the fragment does.
  const f = fragment(one);
  assert.equal(f.els.filter((x) => x === '10.244.0.9 . 10.244.0.9').length, 2);
  assert.equal(toDesired(f).elements.get('hairpin')!.size, 1);
  const l = new Ledger();
  const added = l.replace([[undefined, f]]);
  assert.match(diffText('t', added.before, added.after), /add element ip t hairpin \{ 10\.244\.0\.9 \. 10\.244\.0\.9 \}/);
  const gone = l.replace([[f, undefined]]);
  assert.match(diffText('t', gone.before, gone.after), /delete element ip t hairpin \{ 10\.244\.0\.9 \. 10\.244\.0\.9 \}/);
  assert.deepEqual([...l.counts().elements.values()], [0, 0, 0, 0, 0, 0, 0]);
});

test('the ledger counts what it wants without copying it: elements per container, rules per chain', () => {
  const svcs = [
    service({ name: 'aff', type: 'NodePort', clusterIP: '10.96.0.5', ports: [{ port: 80, nodePort: 30005 }], sessionAffinity: { timeoutSeconds: 60 } }),
    service({ name: 'plain', clusterIP: '10.96.0.6', ports: [{ port: 80 }, { name: 'b', port: 81, protocol: 'UDP' }] }),
  ];
  const slices = [
    slice(
      'aff',
      [{ port: 8080 }],
      [
        { ip: '10.244.0.2', node: 'n' },
        { ip: '10.244.0.3', node: 'm' },
      ],
    ),
    slice('plain', [{ port: 8080 }, { name: 'b', port: 9090, protocol: 'UDP' }], [{ ip: '10.244.0.4', node: 'n' }]),
  ];
  const model = buildModel(svcs, slices, { nodeName: 'n' });
  const l = new Ledger();
  l.replace(model.map((m) => [undefined, fragment([m])]));
  const want = desiredCounts(desiredState(model));
  assert.ok(
    [...want.chains.values()].some((r) => r > 1),
    'an affinity chain of several rules',
  );
  assert.deepEqual(l.counts(), want);
});
