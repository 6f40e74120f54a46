// Objects the micro-benchmarks share: a full container, a scheduled and running Pod as the server stores it
// (spec, status, managed fields), and a Deployment. One definition, so the type check, the protobuf decoder
// and the omitempty pass are measured on the same shapes.

export interface FixtureOptions {
  /**
   * Empty lists and maps where a client sends them and the server leaves them out (omitempty): what
   * `dropEmpty` has to remove. Without it the objects are as read back from the store.
   */
  empties?: boolean;
}

/** A container with every commonly set field: ports, env (a value and a fieldRef), resources, a probe. */
export function container(i: number, o: FixtureOptions = {}) {
  return {
    name: `c${i}`,
    image: `registry.example/app:${i}`,
    command: o.empties ? [] : ['/bin/app'],
    args: ['--port=8080', '--verbose'],
    ports: [{ name: 'http', containerPort: 8080, protocol: 'TCP' }],
    env: [
      { name: 'MODE', value: 'prod' },
      { name: 'POD', valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.name' } } },
    ],
    ...(o.empties ? { envFrom: [] } : {}),
    resources: { limits: { cpu: '500m', memory: '256Mi' }, requests: { cpu: '100m', memory: '64Mi' } },
    volumeMounts: [{ name: 'data', mountPath: '/data' }],
    readinessProbe: {
      httpGet: { path: '/healthz', port: 8080, scheme: 'HTTP' },
      periodSeconds: 5,
      timeoutSeconds: 1,
      successThreshold: 1,
      failureThreshold: 3,
    },
    securityContext: { runAsNonRoot: true, capabilities: { drop: ['ALL'] } },
    terminationMessagePath: '/dev/termination-log',
    terminationMessagePolicy: 'File',
    imagePullPolicy: 'IfNotPresent',
  };
}

function containerStatus(i: number) {
  return {
    name: `c${i}`,
    image: `registry.example/app:${i}`,
    imageID: `registry.example/app@sha256:${'0'.repeat(64)}`,
    containerID: `containerd://${'a'.repeat(64)}`,
    ready: true,
    started: true,
    restartCount: 0,
    state: { running: { startedAt: '2026-12-06T10:00:01Z' } },
    lastState: {},
  };
}

/** A Pod of a Deployment's ReplicaSet, scheduled and running, as a client writes it back: spec, status and managed fields. */
export function fullPod(o: FixtureOptions = {}) {
  return {
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
      annotations: o.empties ? {} : { 'example.com/owner': 'team-a' },
      ...(o.empties ? { finalizers: [] } : {}),
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
      containers: [container(0, o), container(1, o)],
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
      ...(o.empties ? { imagePullSecrets: [] } : {}),
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
      containerStatuses: [containerStatus(0), containerStatus(1)],
      qosClass: 'Burstable',
    },
  };
}

/** A Deployment of two containers with a volume, a toleration and a rolling-update strategy. */
export function deployment() {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'web', labels: { app: 'web', tier: 'frontend' }, annotations: { 'example.com/owner': 'team-a' } },
    spec: {
      replicas: 3,
      selector: { matchLabels: { app: 'web' } },
      template: {
        metadata: { labels: { app: 'web', tier: 'frontend' } },
        spec: {
          containers: [container(0), container(1)],
          volumes: [{ name: 'data', emptyDir: {} }],
          tolerations: [{ key: 'node.kubernetes.io/not-ready', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 }],
        },
      },
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: '25%', maxUnavailable: 0 } },
    },
  };
}
