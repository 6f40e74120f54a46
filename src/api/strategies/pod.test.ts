import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Pod, PodSpec } from '../types.js';
import { decoded } from '../../testing/decoded.js';
import { errorText } from '../validation.js';
import { podStrategy as s } from './pod.js';
import { defaultPullPolicy } from './poddefaults.js';

const NOW = Date.parse('2024-05-01T10:00:00Z');
const ago = (ms: number) => new Date(NOW - ms).toISOString();

/** A pod as the API server decodes it: the specs are what a client may send, wrong types and missing
 *  fields included (validation's hostile input). */
function pod(spec: Record<string, unknown>, extra: Record<string, unknown> = {}): Pod {
  return decoded<Pod>({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'web', namespace: 'default', creationTimestamp: ago(5000) }, spec, ...extra });
}

/** Admission, defaults, validation: what the API server runs on create. */
function create(p: Pod): Pod {
  s.prepareForCreate!(p);
  s.defaults!(p);
  return p;
}

function errors(spec: Record<string, unknown>, extra: Record<string, unknown> = {}): string[] {
  const p = create(pod(structuredClone(spec), extra));
  return s.validate!(p).map(errorText);
}

const c = (more: Record<string, unknown> = {}) => ({ name: 'web', image: 'nginx:1.25', ...more });

test('pod defaults: spec, containers and the admission defaults', () => {
  const p = create(pod({ containers: [{ name: 'web', image: 'nginx', ports: [{ containerPort: 80 }] }] }));
  assert.deepEqual(p.spec, {
    containers: [
      {
        name: 'web',
        image: 'nginx',
        ports: [{ containerPort: 80, protocol: 'TCP' }],
        imagePullPolicy: 'Always',
        terminationMessagePath: '/dev/termination-log',
        terminationMessagePolicy: 'File',
        resources: {},
      },
    ],
    dnsPolicy: 'ClusterFirst',
    restartPolicy: 'Always',
    securityContext: {},
    terminationGracePeriodSeconds: 30,
    schedulerName: 'default-scheduler',
    enableServiceLinks: true,
    serviceAccountName: 'default',
    serviceAccount: 'default',
    priority: 0,
    preemptionPolicy: 'PreemptLowerPriority',
    tolerations: [
      { key: 'node.kubernetes.io/not-ready', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 },
      { key: 'node.kubernetes.io/unreachable', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 },
    ],
  });
  // Idempotent: a second pass (as on update) changes nothing.
  const again = structuredClone(p);
  s.defaults!(again);
  assert.deepEqual(again, p);
  // A pod template gets none of the admission defaults: defaults alone leave them out.
  const plain = pod({ containers: [{ name: 'web', image: 'nginx' }] });
  s.defaults!(plain);
  assert.equal(plain.spec?.serviceAccountName, undefined);
  assert.equal(plain.spec?.tolerations, undefined);
});

test('pod defaults keep what is given and fill nested defaults', () => {
  const p = pod({
    restartPolicy: 'Never',
    serviceAccountName: 'robot',
    priorityClassName: 'system-node-critical',
    tolerations: [{ operator: 'Exists' }],
    containers: [
      {
        name: 'a',
        image: 'busybox',
        imagePullPolicy: 'Never',
        resources: { limits: { cpu: '500m', memory: '64Mi' }, requests: { cpu: '100m' } },
        env: [{ name: 'POD', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } }],
        livenessProbe: { httpGet: { port: 8080 } },
      },
    ],
    volumes: [{ name: 'scratch' }, { name: 'cfg', configMap: { name: 'c' } }],
  });
  create(p);
  const spec = p.spec;
  assert.ok(spec);
  assert.equal(spec.restartPolicy, 'Never');
  assert.equal(spec.serviceAccountName, 'robot');
  assert.equal(spec.serviceAccount, 'robot');
  assert.equal(spec.priority, 2000001000);
  // A toleration of every taint already covers the two defaults.
  assert.deepEqual(spec.tolerations, [{ operator: 'Exists' }]);
  assert.equal(spec.containers[0].imagePullPolicy, 'Never');
  assert.deepEqual(spec.containers[0].resources?.requests, { cpu: '100m', memory: '64Mi' });
  assert.equal(spec.containers[0].env?.[0].valueFrom?.fieldRef?.apiVersion, 'v1');
  assert.deepEqual(spec.containers[0].livenessProbe, {
    httpGet: { port: 8080, path: '/', scheme: 'HTTP' },
    timeoutSeconds: 1,
    periodSeconds: 10,
    successThreshold: 1,
    failureThreshold: 3,
  });
  assert.deepEqual(spec.volumes, [
    { name: 'scratch', emptyDir: {} },
    { name: 'cfg', configMap: { name: 'c', defaultMode: 420 } },
  ]);
});

test('image pull policy follows the tag', () => {
  const cases: [string, string][] = [
    ['nginx', 'Always'],
    ['nginx:latest', 'Always'],
    ['nginx:1.25', 'IfNotPresent'],
    ['nginx@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef', 'IfNotPresent'],
    ['localhost:5000/nginx', 'Always'],
    ['registry.example.com:5000/team/app:v2', 'IfNotPresent'],
    ['docker.io/library/busybox:latest', 'Always'],
    ['Bad/Name', 'IfNotPresent'],
  ];
  for (const [image, want] of cases) assert.equal(defaultPullPolicy(image), want, image);
});

const LABEL_MSG =
  "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";

test('pod validation: valid pods pass', () => {
  assert.deepEqual(errors({ containers: [c()] }), []);
  assert.deepEqual(
    errors({
      initContainers: [
        { name: 'init', image: 'busybox', command: ['true'] },
        { name: 'proxy', image: 'envoy', restartPolicy: 'Always', readinessProbe: { tcpSocket: { port: 15000 } } },
      ],
      containers: [
        c({
          ports: [{ name: 'http', containerPort: 80 }],
          env: [
            { name: 'A', value: '1' },
            { name: '1.weird name', value: '2' },
          ],
          volumeMounts: [{ name: 'data', mountPath: '/data' }],
          resources: { requests: { cpu: '100m' }, limits: { cpu: '1', memory: '1Gi' } },
        }),
      ],
      volumes: [{ name: 'data', emptyDir: {} }],
      nodeName: 'node1',
      hostname: 'web-0',
      subdomain: 'web',
    }),
    [],
  );
});

test('pod validation: the exact errors Kubernetes reports', () => {
  const cases: [string, Record<string, unknown>, string[]][] = [
    ['no containers', { containers: [] }, ['spec.containers: Required value']],
    ['container name', { containers: [c({ name: 'Web_1' })] }, [`spec.containers[0].name: Invalid value: "Web_1": ${LABEL_MSG}`]],
    ['duplicate names', { containers: [c(), c()] }, ['spec.containers[1].name: Duplicate value: "web"']],
    ['init name clashes', { initContainers: [c({ name: 'web' })], containers: [c()] }, ['spec.initContainers[0].name: Duplicate value: "web"']],
    ['image required', { containers: [{ name: 'web' }] }, ['spec.containers[0].image: Required value']],
    [
      'port range',
      { containers: [c({ ports: [{ containerPort: 70000 }] })] },
      ['spec.containers[0].ports[0].containerPort: Invalid value: 70000: must be between 1 and 65535, inclusive'],
    ],
    ['port required', { containers: [c({ ports: [{ name: 'http' }] })] }, ['spec.containers[0].ports[0].containerPort: Required value']],
    [
      'port protocol',
      { containers: [c({ ports: [{ containerPort: 80, protocol: 'XX' }] })] },
      ['spec.containers[0].ports[0].protocol: Unsupported value: "XX": supported values: "SCTP", "TCP", "UDP"'],
    ],
    [
      'port names',
      {
        containers: [
          c({
            ports: [
              { name: 'http', containerPort: 80 },
              { name: 'http', containerPort: 81 },
            ],
          }),
        ],
      },
      ['spec.containers[0].ports[1].name: Duplicate value: "http"'],
    ],
    [
      'host ports',
      {
        containers: [
          c({
            ports: [
              { containerPort: 80, hostPort: 8080 },
              { containerPort: 81, hostPort: 8080 },
            ],
          }),
        ],
      },
      ['spec.containers[0].ports[1].hostPort: Duplicate value: "TCP//8080"'],
    ],
    [
      'env name',
      { containers: [c({ env: [{ name: 'A=B' }, { value: 'x' }] })] },
      [
        `spec.containers[0].env[0].name: Invalid value: "A=B": a valid environment variable name must consist only of printable ASCII characters other than '='`,
        'spec.containers[0].env[1].name: Required value',
      ],
    ],
    [
      'env valueFrom',
      {
        containers: [
          c({
            env: [
              { name: 'A', valueFrom: {} },
              { name: 'B', value: 'v', valueFrom: { secretKeyRef: { name: 's', key: 'k' } } },
            ],
          }),
        ],
      },
      [
        'spec.containers[0].env[0].valueFrom: Invalid value: "": must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`',
        'spec.containers[0].env[1].valueFrom: Invalid value: "": may not be specified when `value` is not empty',
      ],
    ],
    [
      'restart policy',
      { restartPolicy: 'Sometimes', containers: [c()] },
      ['spec.restartPolicy: Unsupported value: "Sometimes": supported values: "Always", "OnFailure", "Never"'],
    ],
    [
      'dns policy',
      { dnsPolicy: 'Google', containers: [c()] },
      ['spec.dnsPolicy: Unsupported value: "Google": supported values: "ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"'],
    ],
    [
      'volume names',
      {
        containers: [c()],
        volumes: [
          { name: 'data', emptyDir: {} },
          { name: 'data', emptyDir: {} },
        ],
      },
      ['spec.volumes[1].name: Duplicate value: "data"'],
    ],
    [
      'volume source',
      { containers: [c()], volumes: [{ name: 'data', emptyDir: {}, hostPath: { path: '/x' } }] },
      ['spec.volumes[0].hostPath: Forbidden: may not specify more than 1 volume type'],
    ],
    [
      'host path type',
      { containers: [c()], volumes: [{ name: 'h', hostPath: { path: '/var/../etc', type: 'Dir' } }] },
      [
        `spec.volumes[0].hostPath.path: Invalid value: "/var/../etc": must not contain '..'`,
        'spec.volumes[0].hostPath.type: Unsupported value: "Dir": supported values: "", "BlockDevice", "CharDevice", "Directory", "DirectoryOrCreate", "File", "FileOrCreate", "Socket"',
      ],
    ],
    [
      'secret volume',
      { containers: [c()], volumes: [{ name: 's', secret: { defaultMode: 1000 } }] },
      [
        'spec.volumes[0].secret.secretName: Required value',
        'spec.volumes[0].secret.defaultMode: Invalid value: 1000: must be a number between 0 and 0777 (octal), both inclusive',
      ],
    ],
    [
      'mount of a missing volume',
      {
        containers: [
          c({
            volumeMounts: [
              { name: 'cache', mountPath: '/cache' },
              { name: 'cache', mountPath: '/cache' },
            ],
          }),
        ],
      },
      [
        'spec.containers[0].volumeMounts[0].name: Not found: "cache"',
        'spec.containers[0].volumeMounts[1].name: Not found: "cache"',
        'spec.containers[0].volumeMounts[1].mountPath: Invalid value: "/cache": must be unique',
      ],
    ],
    [
      'mount propagation',
      {
        containers: [
          c({
            volumeMounts: [
              { name: 'h', mountPath: '/a', mountPropagation: 'Bidirectional' },
              { name: 'h', mountPath: '/b', mountPropagation: 'Slave' },
            ],
          }),
          c({
            name: 'priv',
            securityContext: { privileged: true },
            volumeMounts: [
              { name: 'h', mountPath: '/a', mountPropagation: 'Bidirectional' },
              { name: 'h', mountPath: '/b', mountPropagation: 'HostToContainer' },
            ],
          }),
        ],
        initContainers: [c({ name: 'init', volumeMounts: [{ name: 'h', mountPath: '/a', mountPropagation: 'Bidirectional' }] })],
        volumes: [{ name: 'h', hostPath: { path: '/mnt' } }],
      },
      [
        'spec.containers[0].volumeMounts[0].mountPropagation: Forbidden: Bidirectional mount propagation is available only to privileged containers',
        'spec.containers[0].volumeMounts[1].mountPropagation: Unsupported value: "Slave": supported values: "Bidirectional", "HostToContainer", "None"',
        'spec.initContainers[0].volumeMounts[0].mountPropagation: Forbidden: Bidirectional mount propagation is available only to privileged containers',
      ],
    ],
    [
      'node name',
      { nodeName: 'Node_1', containers: [c()] },
      [
        `spec.nodeName: Invalid value: "Node_1": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')`,
      ],
    ],
    [
      'requests over limits',
      { containers: [c({ resources: { requests: { cpu: '2' }, limits: { cpu: '1000m' } } })] },
      ['spec.containers[0].resources.requests: Invalid value: "2": must be less than or equal to cpu limit of 1'],
    ],
    // Requests default to limits on a pod, so the bad name is reported on both.
    [
      'unknown resource',
      { containers: [c({ resources: { limits: { gpu: '1' } } })] },
      [
        'spec.containers[0].resources.limits[gpu]: Invalid value: "gpu": must be a standard resource type or fully qualified',
        'spec.containers[0].resources.limits[gpu]: Invalid value: "gpu": must be a standard resource for containers',
        'spec.containers[0].resources.requests[gpu]: Invalid value: "gpu": must be a standard resource type or fully qualified',
        'spec.containers[0].resources.requests[gpu]: Invalid value: "gpu": must be a standard resource for containers',
      ],
    ],
    [
      'bad quantity',
      { containers: [c({ resources: { requests: { memory: '1 GB' } } })] },
      [
        'spec.containers[0].resources.requests[memory]: Invalid value: "1 GB": quantities must match the regular expression \'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$\'',
      ],
    ],
    [
      'image whitespace',
      { containers: [c({ image: ' nginx' })] },
      ['spec.containers[0].image: Invalid value: " nginx": must not have leading or trailing whitespace'],
    ],
    [
      'toleration',
      {
        containers: [c()],
        tolerations: [
          { key: 'k', operator: 'Exists', value: 'v' },
          { operator: 'Equal', value: 'x' },
        ],
      },
      [
        'spec.tolerations[0].operator: Invalid value: "v": value must be empty when `operator` is \'Exists\'',
        'spec.tolerations[1].operator: Invalid value: "Equal": operator must be Exists when `key` is empty, which means "match all values and all keys"',
      ],
    ],
    [
      'probe',
      { containers: [c({ livenessProbe: { exec: { command: ['true'] }, successThreshold: 2 } })] },
      ['spec.containers[0].livenessProbe.successThreshold: Invalid value: 2: must be 1'],
    ],
    ['probe handler', { containers: [c({ readinessProbe: {} })] }, ['spec.containers[0].readinessProbe: Required value: must specify a handler type']],
    [
      'init probes',
      { initContainers: [{ name: 'i', image: 'busybox', livenessProbe: { exec: { command: ['true'] } } }], containers: [c()] },
      ['spec.initContainers[0].livenessProbe: Forbidden: may not be set for init containers without restartPolicy=Always'],
    ],
    [
      'active deadline',
      { activeDeadlineSeconds: 0, containers: [c()] },
      ['spec.activeDeadlineSeconds: Invalid value: 0: must be between 1 and 2147483647, inclusive'],
    ],
    [
      'hostNetwork ports',
      { hostNetwork: true, containers: [c({ ports: [{ containerPort: 80, hostPort: 81 }] })] },
      ['spec.containers[0].ports[0].hostPort: Invalid value: 81: must match `containerPort` when `hostNetwork` is true'],
    ],
    [
      'nodeName with gates',
      { nodeName: 'n1', schedulingGates: [{ name: 'example.com/wait' }], containers: [c()] },
      ['spec.nodeName: Forbidden: cannot be set until all schedulingGates have been cleared'],
    ],
  ];
  for (const [name, spec, want] of cases) assert.deepEqual(errors(spec), want, name);
});

function updateErrors(oldSpec: Record<string, unknown>, change: (spec: PodSpec) => void): string[] {
  const old = create(pod(structuredClone(oldSpec)));
  const next = structuredClone(old);
  assert.ok(next.spec);
  change(next.spec);
  s.defaults!(next);
  return s.validateUpdate!(next, old).map(errorText);
}

test('pod updates: only images, deadline, added tolerations and grace period may change', () => {
  const base = { containers: [c({ ports: [{ containerPort: 80 }] })], activeDeadlineSeconds: 100 };
  assert.deepEqual(
    updateErrors(base, (sp) => {
      sp.containers[0].image = 'nginx:1.26';
    }),
    [],
  );
  assert.deepEqual(
    updateErrors(base, (sp) => {
      sp.activeDeadlineSeconds = 50;
    }),
    [],
  );
  assert.deepEqual(
    updateErrors(base, (sp) => {
      sp.tolerations!.push({ key: 'x', operator: 'Exists' });
    }),
    [],
  );
  assert.deepEqual(
    updateErrors(base, (sp) => {
      sp.tolerations![0].tolerationSeconds = 60;
    }),
    [],
  );

  const portChange = updateErrors(base, (sp) => {
    sp.containers[0].ports![0].containerPort = 8080;
  });
  assert.equal(portChange.length, 1);
  const prefix =
    'spec: Forbidden: pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)\n';
  assert.ok(portChange[0].startsWith(prefix), portChange[0]);
  assert.match(portChange[0], /-\tcontainers\[0\]\.ports\[0\]\.containerPort: 80\n\+\tcontainers\[0\]\.ports\[0\]\.containerPort: 8080/);

  assert.deepEqual(
    updateErrors(base, (sp) => {
      sp.containers.push(c({ name: 'b' }));
    }),
    ['spec.containers: Forbidden: pod updates may not add or remove containers'],
  );
  assert.deepEqual(
    updateErrors(base, (sp) => {
      sp.activeDeadlineSeconds = 200;
    }),
    ['spec.activeDeadlineSeconds: Invalid value: 200: must be less than or equal to previous value'],
  );
  assert.deepEqual(
    updateErrors(base, (sp) => {
      delete sp.activeDeadlineSeconds;
    }),
    ['spec.activeDeadlineSeconds: Invalid value: null: must not update from a positive integer to nil value'],
  );
  assert.deepEqual(
    updateErrors(base, (sp) => {
      sp.tolerations![0].effect = 'NoSchedule';
    }),
    ['spec.tolerations: Forbidden: existing toleration can not be modified except its tolerationSeconds'],
  );
  assert.deepEqual(
    updateErrors(base, (sp) => {
      sp.containers[0].image = '';
    }),
    ['spec.containers[0].image: Required value'],
  );
  assert.deepEqual(
    updateErrors({ containers: [c()], terminationGracePeriodSeconds: -1 }, (sp) => {
      sp.terminationGracePeriodSeconds = 1;
    }),
    [],
  );
  assert.equal(
    updateErrors({ containers: [c()] }, (sp) => {
      sp.nodeName = 'node2';
    }).length,
    1,
  );
});

test('pod status updates: qosClass is immutable, pod IPs valid and one per family', () => {
  const old = pod({ containers: [c()], restartPolicy: 'Never' }, { status: { phase: 'Running', qosClass: 'BestEffort' } });
  const ok = structuredClone(old);
  ok.status!.podIPs = [{ ip: '10.244.1.5' }, { ip: 'fd00::5' }];
  assert.deepEqual(s.validateStatus!(ok, old), []);
  const bad = structuredClone(old);
  bad.status = { qosClass: 'Guaranteed', podIPs: [{ ip: '10.0.0.1' }, { ip: '10.0.0.2' }] };
  assert.deepEqual(s.validateStatus!(bad, old).map(errorText), [
    'status.qosClass: Invalid value: "Guaranteed": field is immutable',
    'status.podIPs: Invalid value: []core.PodIP{core.PodIP{IP:"10.0.0.1"}, core.PodIP{IP:"10.0.0.2"}}: may specify no more than one IP for each IP family',
  ]);
  const done = structuredClone(old);
  const web = { name: 'web', image: 'nginx:1.25', imageID: '', ready: false, restartCount: 0 };
  done.status!.containerStatuses = [{ ...web, state: { terminated: { exitCode: 0 } } }];
  const back = structuredClone(done);
  back.status!.containerStatuses = [{ ...web, state: { running: {} } }];

  assert.deepEqual(s.validateStatus!(back, done).map(errorText), [
    'status.containerStatuses[0].state: Forbidden: may not be transitioned to non-terminated state',
  ]);
});

function row(status: Record<string, unknown>, spec: Record<string, unknown> = { containers: [c()] }, meta: Record<string, unknown> = {}): unknown[] {
  const p = pod(spec, { status });
  Object.assign(p.metadata, meta);
  return s.row(p, NOW);
}

test('pod table: columns as Kubernetes defines them', () => {
  assert.deepEqual(
    s.columns.map((x) => [x.name, x.type, x.format, x.priority]),
    [
      ['Name', 'string', 'name', 0],
      ['Ready', 'string', '', 0],
      ['Status', 'string', '', 0],
      ['Restarts', 'string', '', 0],
      ['Age', 'string', '', 0],
      ['IP', 'string', '', 1],
      ['Node', 'string', '', 1],
      ['Nominated Node', 'string', '', 1],
      ['Readiness Gates', 'string', '', 1],
    ],
  );
  assert.match(s.columns[0].description, /^Name must be unique within a namespace/);
  assert.equal(
    s.columns[3].description,
    'The number of times the containers in this pod have been restarted and when the last container in this pod has restarted.',
  );
});

test('pod table: status, ready and restarts cells', () => {
  const running = { state: { running: { startedAt: ago(60000) } }, ready: true, restartCount: 0, name: 'web' };
  const cases: [string, unknown[], unknown[]][] = [
    ['pending', row({ phase: 'Pending' }), ['web', '0/1', 'Pending', '0', '5s', '<none>', '<none>', '<none>', '<none>']],
    [
      'running',
      row({ phase: 'Running', podIP: '10.244.1.5', containerStatuses: [running] }, { containers: [c()], nodeName: 'node1' }),
      ['web', '1/1', 'Running', '0', '5s', '10.244.1.5', 'node1', '<none>', '<none>'],
    ],
    [
      'creating',
      row({ phase: 'Pending', containerStatuses: [{ name: 'web', ready: false, restartCount: 0, state: { waiting: { reason: 'ContainerCreating' } } }] }).slice(
        0,
        4,
      ),
      ['web', '0/1', 'ContainerCreating', '0'],
    ],
    [
      'crashloop',
      row({
        phase: 'Running',
        containerStatuses: [
          {
            name: 'web',
            ready: false,
            restartCount: 5,
            state: { waiting: { reason: 'CrashLoopBackOff' } },
            lastState: { terminated: { exitCode: 1, finishedAt: ago(5 * 60000) } },
          },
        ],
      }).slice(0, 4),
      ['web', '0/1', 'CrashLoopBackOff', '5 (5m ago)'],
    ],
    [
      'completed',
      row({
        phase: 'Succeeded',
        containerStatuses: [{ name: 'web', ready: false, restartCount: 0, state: { terminated: { exitCode: 0, reason: 'Completed' } } }],
      }).slice(0, 4),
      ['web', '0/1', 'Completed', '0'],
    ],
    ['exit code', row({ phase: 'Failed', containerStatuses: [{ name: 'web', state: { terminated: { exitCode: 2 } } }] }).slice(2, 3), ['ExitCode:2']],
    ['signal', row({ phase: 'Failed', containerStatuses: [{ name: 'web', state: { terminated: { exitCode: 137, signal: 9 } } }] }).slice(2, 3), ['Signal:9']],
    [
      'init running',
      row(
        {
          phase: 'Pending',
          initContainerStatuses: [{ name: 'init', state: { running: {} } }],
          containerStatuses: [{ name: 'web', state: { waiting: { reason: 'PodInitializing' } } }],
        },
        { initContainers: [{ name: 'init', image: 'busybox' }], containers: [c()] },
      ).slice(1, 3),
      ['0/1', 'Init:0/1'],
    ],
    [
      'init pull error',
      row(
        {
          phase: 'Pending',
          initContainerStatuses: [
            { name: 'a', state: { terminated: { exitCode: 0 } } },
            { name: 'b', state: { waiting: { reason: 'ErrImagePull' } } },
          ],
        },
        {
          initContainers: [
            { name: 'a', image: 'x' },
            { name: 'b', image: 'y' },
          ],
          containers: [c()],
        },
      ).slice(2, 3),
      ['Init:ErrImagePull'],
    ],
    [
      'init failed',
      row(
        { phase: 'Pending', initContainerStatuses: [{ name: 'a', restartCount: 3, state: { terminated: { exitCode: 1, reason: 'Error' } } }] },
        { initContainers: [{ name: 'a', image: 'x' }], containers: [c()] },
      ).slice(2, 4),
      ['Init:Error', '3'],
    ],
    [
      'sidecar',
      row(
        {
          phase: 'Running',
          conditions: [{ type: 'Initialized', status: 'True' }],
          initContainerStatuses: [
            {
              name: 'proxy',
              started: true,
              ready: true,
              restartCount: 1,
              state: { running: {} },
              lastState: { terminated: { exitCode: 1, finishedAt: ago(90000) } },
            },
          ],
          containerStatuses: [running],
        },
        { initContainers: [{ name: 'proxy', image: 'envoy', restartPolicy: 'Always' }], containers: [c()] },
      ).slice(1, 4),
      ['2/2', 'Running', '1 (90s ago)'],
    ],
    [
      'terminating',
      row({ phase: 'Running', containerStatuses: [running] }, { containers: [c()] }, { deletionTimestamp: ago(1000) }).slice(2, 3),
      ['Terminating'],
    ],
    ['node lost', row({ phase: 'Running', reason: 'NodeLost' }, { containers: [c()] }, { deletionTimestamp: ago(1000) }).slice(2, 3), ['Unknown']],
    ['evicted', row({ phase: 'Failed', reason: 'Evicted' }).slice(2, 3), ['Evicted']],
    ['gated', row({ phase: 'Pending', conditions: [{ type: 'PodScheduled', status: 'False', reason: 'SchedulingGated' }] }).slice(2, 3), ['SchedulingGated']],
    [
      'readiness gates',
      row(
        {
          phase: 'Running',
          conditions: [
            { type: 'example.com/a', status: 'True' },
            { type: 'example.com/b', status: 'False' },
          ],
        },
        { containers: [c()], readinessGates: [{ conditionType: 'example.com/a' }, { conditionType: 'example.com/b' }] },
      ).slice(8),
      ['1/2'],
    ],
    [
      'no status',
      s.row({ metadata: { name: 'bare' }, spec: { containers: [] } }, NOW),
      ['bare', '0/0', '', '0', '<unknown>', '<none>', '<none>', '<none>', '<none>'],
    ],
  ];
  for (const [name, got, want] of cases) assert.deepEqual(got, want, name);
});

test('pod field selectors', () => {
  const p = pod(
    { containers: [c()], nodeName: 'node1', restartPolicy: 'Always', schedulerName: 'default-scheduler', serviceAccountName: 'default' },
    { status: { phase: 'Running', podIPs: [{ ip: '10.244.1.5' }], nominatedNodeName: '' } },
  );
  assert.deepEqual(s.fields!(p), {
    'spec.nodeName': 'node1',
    'spec.restartPolicy': 'Always',
    'spec.schedulerName': 'default-scheduler',
    'spec.serviceAccountName': 'default',
    'spec.hostNetwork': 'false',
    'status.phase': 'Running',
    'status.podIP': '10.244.1.5',
    'status.nominatedNodeName': '',
  });
});

test('ephemeral containers: unique names, nothing a debug container cannot have, a real target; the subresource only adds', async () => {
  const { validateEphemeralContainersUpdate } = await import('./pod.js');
  const eph = (more: Record<string, unknown> = {}) => ({ name: 'dbg', image: 'busybox', terminationMessagePolicy: 'File', imagePullPolicy: 'Always', ...more });
  assert.deepEqual(errors({ containers: [c()], ephemeralContainers: [eph({ targetContainerName: 'web' })] }), []);
  assert.deepEqual(
    errors({
      containers: [c()],
      ephemeralContainers: [
        eph({ name: 'web', targetContainerName: 'nope', ports: [{ containerPort: 80 }], readinessProbe: { exec: { command: ['true'] } }, volumeMounts: [] }),
      ],
    }),
    [
      'spec.ephemeralContainers[0].name: Duplicate value: "web"',
      'spec.ephemeralContainers[0].readinessProbe: Forbidden: cannot be set for an Ephemeral Container',
      'spec.ephemeralContainers[0].ports: Forbidden: cannot be set for an Ephemeral Container',
      'spec.ephemeralContainers[0].targetContainerName: Not found: "nope"',
    ],
  );
  const old = create(pod({ containers: [c()], ephemeralContainers: [eph()] }));
  const changed = structuredClone(old);
  changed.spec!.ephemeralContainers![0].image = 'alpine';
  assert.deepEqual(validateEphemeralContainersUpdate(changed, old).map(errorText), [
    'spec.ephemeralContainers: Forbidden: existing ephemeral containers "dbg" may not be changed',
  ]);
  const removed = structuredClone(old);
  removed.spec!.ephemeralContainers = [];
  assert.deepEqual(validateEphemeralContainersUpdate(removed, old).map(errorText), [
    'spec.ephemeralContainers: Forbidden: existing ephemeral containers "dbg" may not be removed',
  ]);
  const added = structuredClone(old);
  added.spec!.ephemeralContainers!.push({ name: 'dbg2', image: 'busybox', terminationMessagePolicy: 'File', imagePullPolicy: 'Always' });
  assert.deepEqual(validateEphemeralContainersUpdate(added, old), []);
  // Through the pod itself they cannot change at all.
  assert.ok(
    updateErrors({ containers: [c()] }, (sp) => (sp.ephemeralContainers = [eph()])).some((e) =>
      e.startsWith('spec: Forbidden: pod updates may not change fields'),
    ),
  );
});

test('pod validation: resources.limits that is no map reads as none (it threw a TypeError before the typed pass)', () => {
  for (const limits of ['x', 5, true]) {
    assert.deepEqual(errors({ containers: [c({ resources: { limits, requests: { 'hugepages-2Mi': '2Mi' } } })] }), [
      'spec.containers[0].resources.limits: Required value: Limit must be set for non overcommitable resources',
    ]);
  }
});
