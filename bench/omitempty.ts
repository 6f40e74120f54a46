// What the API server adds per written object to leave out empty omitempty lists and maps (dropEmpty),
// against the anchor of what every write already pays: JSON.stringify of the same object for the store.
// Run: npx tsc -p tsconfig.json && node dist/bench/omitempty.js
import { loadavg } from 'node:os';
import { definitions, dropEmpty } from '../src/apiserver/openapi/schemas.js';

const container = (i: number) => ({
  name: `c${i}`,
  image: `registry.example/app:${i}`,
  args: ['--port=8080'],
  command: [],
  ports: [{ name: 'http', containerPort: 8080, protocol: 'TCP' }],
  env: [
    { name: 'MODE', value: 'prod' },
    { name: 'POD', valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.name' } } },
  ],
  envFrom: [],
  resources: { limits: { cpu: '500m', memory: '256Mi' }, requests: { cpu: '100m', memory: '64Mi' } },
  volumeMounts: [{ name: 'data', mountPath: '/data' }],
  readinessProbe: { httpGet: { path: '/healthz', port: 8080 }, periodSeconds: 5 },
  terminationMessagePath: '/dev/termination-log',
  imagePullPolicy: 'IfNotPresent',
});

/** A defaulted, scheduled, running Pod of two containers, as the server stores one. */
const pod = () => ({
  kind: 'Pod',
  apiVersion: 'v1',
  metadata: {
    name: 'web-7d9f8c-abcde',
    namespace: 'default',
    uid: '0f8b0c1e-6f1e-4a53-9d4e-6a8f1c2b3d4e',
    creationTimestamp: '2026-12-05T10:00:00Z',
    labels: { app: 'web', 'pod-template-hash': '7d9f8c' },
    annotations: {},
    finalizers: [],
    ownerReferences: [
      {
        apiVersion: 'apps/v1',
        kind: 'ReplicaSet',
        name: 'web-7d9f8c',
        uid: 'a1b2c3d4-0000-4000-8000-000000000001',
        controller: true,
        blockOwnerDeletion: true,
      },
    ],
  },
  spec: {
    containers: [container(0), container(1)],
    volumes: [{ name: 'data', emptyDir: {} }],
    restartPolicy: 'Always',
    terminationGracePeriodSeconds: 30,
    dnsPolicy: 'ClusterFirst',
    serviceAccountName: 'default',
    nodeName: 'node1',
    securityContext: {},
    schedulerName: 'default-scheduler',
    imagePullSecrets: [],
    tolerations: [{ key: 'node.kubernetes.io/not-ready', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 }],
    priority: 0,
    enableServiceLinks: true,
    preemptionPolicy: 'PreemptLowerPriority',
  },
  status: {
    phase: 'Running',
    podIP: '10.244.1.7',
    podIPs: [{ ip: '10.244.1.7' }],
    hostIP: '172.30.0.2',
    startTime: '2026-12-05T10:00:01Z',
    qosClass: 'Burstable',
    conditions: [
      { type: 'Ready', status: 'True', lastTransitionTime: '2026-12-05T10:00:03Z' },
      { type: 'PodScheduled', status: 'True', lastTransitionTime: '2026-12-05T10:00:00Z' },
    ],
    containerStatuses: [0, 1].map((i) => ({
      name: `c${i}`,
      ready: true,
      restartCount: 0,
      image: 'busybox',
      imageID: '',
      started: true,
      state: { running: { startedAt: '2026-12-05T10:00:02Z' } },
      lastState: {},
      containerID: `runc://${i}`,
    })),
  },
});

/** µs per call of fn over `n` objects made beforehand (making them is not timed). */
function perCall(fn: (o: ReturnType<typeof pod>) => unknown, n = 20_000, make = pod): number {
  const objs = Array.from({ length: n }, make);
  const t = process.hrtime.bigint();
  for (const o of objs) fn(o);
  return Number(process.hrtime.bigint() - t) / 1e3 / n;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

definitions(); // loaded once, as the server does at its first write
perCall((o) => dropEmpty('', 'v1', 'Pod', o)); // warm-up
perCall((o) => JSON.stringify(o));
/** The usual update: an object read back from the store, already without empty fields. */
const clean = () => {
  const p = pod();
  dropEmpty('', 'v1', 'Pod', p);
  return JSON.parse(JSON.stringify(p)) as ReturnType<typeof pod>;
};
const drop: number[] = [];
const dropClean: number[] = [];
const anchor: number[] = [];
for (let round = 0; round < 7; round++) {
  drop.push(perCall((o) => dropEmpty('', 'v1', 'Pod', o)));
  dropClean.push(perCall((o) => dropEmpty('', 'v1', 'Pod', o), 20_000, clean));
  anchor.push(perCall((o) => JSON.stringify(o)));
}
const d = median(drop);
const c = median(dropClean);
const a = median(anchor);
console.log(
  `load average: ${loadavg()
    .map((x) => x.toFixed(2))
    .join(' ')}`,
);
console.log(`anchor  JSON.stringify of the same Pod (every write does it): ${a.toFixed(2)} µs`);
console.log(`dropEmpty on a Pod with empty omitempty fields:           ${d.toFixed(2)} µs`);
console.log(`dropEmpty on a Pod read back from the store (nothing to drop): ${c.toFixed(2)} µs`);
console.log(`ratio dropEmpty / JSON.stringify: ${(d / a).toFixed(2)} with empties, ${(c / a).toFixed(2)} without`);
