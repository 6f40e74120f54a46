// What the JSON type check of a write costs (apiserver/jsontypes.ts), per object, against the anchor of
// JSON.parse of the same body, in the same run: a full Pod (spec, status, managedFields) and a
// Deployment. Rows are interleaved, round after round, so the machine's load falls on all alike.
// Run: npm run build && node dist/bench/typecheck.js [rounds, default 7]
import { readFileSync } from 'node:fs';
import { typeMismatch } from '../src/apiserver/jsontypes.js';
import { decodeStrictly } from '../src/apiserver/typecheck.js';
import { fmt, table } from './lib.js';

const ROUNDS = Number(process.argv[2] ?? 7);
const load = () => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');

const container = (i: number) => ({
  name: `c${i}`,
  image: `registry.example/app:${i}`,
  command: ['/bin/app'],
  args: ['--port=8080', '--verbose'],
  ports: [{ name: 'http', containerPort: 8080, protocol: 'TCP' }],
  env: [
    { name: 'MODE', value: 'prod' },
    { name: 'POD', valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.name' } } },
  ],
  resources: { limits: { cpu: '500m', memory: '256Mi' }, requests: { cpu: '100m', memory: '64Mi' } },
  volumeMounts: [{ name: 'data', mountPath: '/data' }],
  readinessProbe: { httpGet: { path: '/healthz', port: 8080, scheme: 'HTTP' }, periodSeconds: 5, timeoutSeconds: 1, successThreshold: 1, failureThreshold: 3 },
  securityContext: { runAsNonRoot: true, capabilities: { drop: ['ALL'] } },
  terminationMessagePath: '/dev/termination-log',
  terminationMessagePolicy: 'File',
  imagePullPolicy: 'IfNotPresent',
});

const status = (i: number) => ({
  name: `c${i}`,
  image: `registry.example/app:${i}`,
  imageID: `registry.example/app@sha256:${'0'.repeat(64)}`,
  containerID: `containerd://${'a'.repeat(64)}`,
  ready: true,
  started: true,
  restartCount: 0,
  state: { running: { startedAt: '2026-12-06T10:00:01Z' } },
  lastState: {},
});

/** A Pod as a client writes it back: spec, status and managed fields, as stored. */
const pod = {
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: {
    name: 'web-7d4b9c8f6d-x2x9z',
    generateName: 'web-7d4b9c8f6d-',
    namespace: 'default',
    uid: '2b0f1c52-8f6e-4a0b-9d53-0d3c1f7e9a11',
    resourceVersion: '12345',
    creationTimestamp: '2026-12-06T10:00:00Z',
    labels: { app: 'web', 'pod-template-hash': '7d4b9c8f6d' },
    annotations: { 'example.com/owner': 'team-a' },
    ownerReferences: [
      {
        apiVersion: 'apps/v1',
        kind: 'ReplicaSet',
        name: 'web-7d4b9c8f6d',
        uid: '9a0b1c2d-3e4f-5a6b-7c8d-9e0f1a2b3c4d',
        controller: true,
        blockOwnerDeletion: true,
      },
    ],
    managedFields: [
      {
        manager: 'kube-controller-manager',
        operation: 'Update',
        apiVersion: 'v1',
        time: '2026-12-06T10:00:00Z',
        fieldsType: 'FieldsV1',
        fieldsV1: { 'f:metadata': { 'f:labels': { '.': {}, 'f:app': {} } }, 'f:spec': { 'f:containers': {} } },
      },
    ],
  },
  spec: {
    containers: [container(0), container(1)],
    volumes: [
      { name: 'data', emptyDir: {} },
      {
        name: 'kube-api-access',
        projected: {
          defaultMode: 420,
          sources: [
            { serviceAccountToken: { expirationSeconds: 3607, path: 'token' } },
            { configMap: { name: 'kube-root-ca.crt', items: [{ key: 'ca.crt', path: 'ca.crt' }] } },
          ],
        },
      },
    ],
    restartPolicy: 'Always',
    terminationGracePeriodSeconds: 30,
    dnsPolicy: 'ClusterFirst',
    serviceAccountName: 'default',
    nodeName: 'n1',
    securityContext: {},
    schedulerName: 'default-scheduler',
    tolerations: [{ key: 'node.kubernetes.io/not-ready', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 }],
    priority: 0,
    enableServiceLinks: true,
    preemptionPolicy: 'PreemptLowerPriority',
  },
  status: {
    phase: 'Running',
    conditions: ['Initialized', 'Ready', 'ContainersReady', 'PodScheduled'].map((type) => ({
      type,
      status: 'True',
      lastTransitionTime: '2026-12-06T10:00:02Z',
    })),
    hostIP: '10.0.0.1',
    podIP: '10.244.1.5',
    podIPs: [{ ip: '10.244.1.5' }],
    startTime: '2026-12-06T10:00:00Z',
    containerStatuses: [status(0), status(1)],
    qosClass: 'Burstable',
  },
};

const deployment = {
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name: 'web', labels: { app: 'web' } },
  spec: {
    replicas: 3,
    selector: { matchLabels: { app: 'web' } },
    template: { metadata: { labels: { app: 'web' } }, spec: { containers: [container(0), container(1)] } },
    strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: '25%', maxUnavailable: 0 } },
  },
};

/** ns per call, over at least minMs. */
function nsPer(fn: () => unknown, minMs = 200): number {
  let n = 0;
  const start = process.hrtime.bigint();
  let elapsed = 0n;
  while (elapsed < BigInt(minMs) * 1_000_000n) {
    for (let i = 0; i < 100; i++) fn();
    n += 100;
    elapsed = process.hrtime.bigint() - start;
  }
  return Number(elapsed) / n;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

for (const [name, obj] of [
  ['Pod', pod],
  ['Deployment', deployment],
] as const) {
  const body = JSON.stringify(obj);
  const parsed = JSON.parse(body);
  const apiVersion = obj.apiVersion;
  if (typeMismatch(apiVersion, name, parsed)) throw new Error(`bench: the ${name} does not type-check`);
  const rows = { parse: [] as number[], check: [] as number[], decode: [] as number[] };
  const loadBefore = load();
  for (let r = 0; r < ROUNDS; r++) {
    rows.parse.push(nsPer(() => JSON.parse(body)));
    rows.check.push(nsPer(() => typeMismatch(apiVersion, name, parsed)));
    // The whole decode step of a write: the type check, then the unknown-field walk (no unknown fields here).
    rows.decode.push(nsPer(() => decodeStrictly(parsed, apiVersion, name, 'Warn')));
  }
  const p = median(rows.parse);
  console.log(`\n${name}: ${body.length} bytes of JSON, ${ROUNDS} interleaved rounds, median ns per object (load ${loadBefore} → ${load()})`);
  console.log(
    table([
      ['step', 'ns/object', 'min', 'max', '× JSON.parse'],
      ...Object.entries(rows).map(([k, xs]) => [
        k === 'parse' ? 'JSON.parse (anchor)' : k === 'check' ? 'typeMismatch' : 'decodeStrictly (check + unknown fields)',
        fmt(median(xs), 0),
        fmt(Math.min(...xs), 0),
        fmt(Math.max(...xs), 0),
        fmt(median(xs) / p, 2),
      ]),
    ]),
  );
}
