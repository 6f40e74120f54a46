// Inside the pod, on a real two-node cluster with the real kubectl: every volume type read from a
// container; a ConfigMap change seen in the mounted file within 1 s and never as a mixed set (a reader loop
// in the pod checks); env from every source; a missing Secret and a missing key (event, waiting reason,
// retried until it appears); a hostPath of the wrong type; `../` refused with 422; init and sidecar
// containers; `kubectl debug` with an ephemeral container; the projected token with its CA and namespace;
// no mount left after a pod is deleted, after an agent kill -9 and restart, and after `k8ts down`.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, rmSync } from 'node:fs';
import { type Cluster, clusterFixture, restartLabProcess, sh, skip, sleep, until } from './clusterkit.js';
import { mountsUnder, unmountUnder } from '../../src/lab/mounts.js';
import { configFromKubeconfig, RestClient } from '../../src/client/rest.js';
import { CONFIGMAPS } from '../../src/api/kinds.js';
import { parseExposition } from '../../src/util/promtext.js';

const VOLUMES = `apiVersion: v1
kind: ConfigMap
metadata: {name: app-config}
data: {greeting: hello, other: world}
---
apiVersion: v1
kind: Secret
metadata: {name: app-secret}
stringData: {password: s3cret, user: admin}
---
apiVersion: v1
kind: Pod
metadata:
  name: vols
  labels: {app: vols, tier: backend}
spec:
  nodeSelector: {kubernetes.io/hostname: node1}
  terminationGracePeriodSeconds: 1
  containers:
  - name: main
    image: busybox
    command: ["sleep", "3600"]
    resources: {limits: {memory: 64Mi}}
    volumeMounts:
    - {name: cfg, mountPath: /cfg}
    - {name: sec, mountPath: /sec}
    - {name: down, mountPath: /down}
    - {name: proj, mountPath: /proj}
    - {name: mem, mountPath: /mem}
    - {name: disk, mountPath: /disk}
    - {name: host, mountPath: /host}
    - {name: disk, mountPath: /sub, subPath: a/b}
    - {name: cfg, mountPath: /one/greeting.txt, subPath: greeting}
    - {name: disk, mountPath: /ro, readOnly: true}
  volumes:
  - name: cfg
    configMap: {name: app-config, items: [{key: greeting, path: greeting}, {key: other, path: nested/other, mode: 0600}]}
  - name: sec
    secret: {secretName: app-secret, defaultMode: 0400}
  - name: down
    downwardAPI:
      items:
      - {path: name, fieldRef: {fieldPath: metadata.name}}
      - {path: labels, fieldRef: {fieldPath: metadata.labels}}
      - {path: mem, resourceFieldRef: {containerName: main, resource: limits.memory, divisor: 1Mi}}
  - name: proj
    projected:
      sources:
      - configMap: {name: app-config, items: [{key: greeting, path: cm-greeting}]}
      - secret: {name: app-secret, items: [{key: user, path: sec-user}]}
      - downwardAPI: {items: [{path: ns, fieldRef: {fieldPath: metadata.namespace}}]}
  - name: mem
    emptyDir: {medium: Memory, sizeLimit: 8Mi}
  - name: disk
    emptyDir: {}
  - name: host
    hostPath: {path: /tmp/k8ts-e2e-podinside-HOSTDIR, type: DirectoryOrCreate}
`;

/** Two keys that always hold the same version: a reader that ever sees them differ saw a mixed set. */
const versioned = (v: number) => `apiVersion: v1
kind: ConfigMap
metadata: {name: live}
data:
  a: "${String(v).repeat(2000)}"
  b: "${String(v).repeat(2000)}"
`;

// The reader: each round reads both keys through one resolution of ..data (the atomic writer's set), and
// notes the host's uptime (the same clock as the test's) the first time it sees a new version.
const READER = `apiVersion: v1
kind: Pod
metadata: {name: reader}
spec:
  nodeSelector: {kubernetes.io/hostname: node2}
  terminationGracePeriodSeconds: 1
  containers:
  - name: main
    image: busybox
    command:
    - sh
    - -c
    - |
      last=
      while true; do
        a=$(cat /cfg/a 2>/dev/null); b=$(cat /cfg/b 2>/dev/null)
        if [ -n "$a" ] && [ "\${#a}" != 2000 ]; then echo HALF; fi
        if [ -n "$a" ] && [ "$a" != "$b" ]; then a2=$(cat /cfg/a); [ "$a2" = "$a" ] && echo MIXED; fi
        if [ "$a" != "$last" ]; then last=$a; echo seen \${a%"\${a#?}"} $(cut -d' ' -f1 /proc/uptime); fi
      done
    volumeMounts: [{name: live, mountPath: /cfg}]
  volumes:
  - {name: live, configMap: {name: live}}
`;

const ENV = `apiVersion: v1
kind: Service
metadata: {name: backend-db}
spec:
  ports: [{name: sql, port: 5432}]
---
apiVersion: v1
kind: ConfigMap
metadata: {name: env-config}
data: {MODE: fast, LEVEL: "3"}
---
apiVersion: v1
kind: Secret
metadata: {name: env-secret}
stringData: {TOKEN: t0k3n}
---
apiVersion: v1
kind: Pod
metadata: {name: envs, labels: {app: envs}}
spec:
  nodeSelector: {kubernetes.io/hostname: node1}
  terminationGracePeriodSeconds: 1
  restartPolicy: Never
  containers:
  - name: main
    image: busybox
    command: ["sh", "-c", "env | sort; echo ARGV $(NAME)"]
    resources: {requests: {cpu: 250m}, limits: {memory: 32Mi}}
    envFrom:
    - configMapRef: {name: env-config}
      prefix: CFG_
    - secretRef: {name: env-secret}
    env:
    - {name: NAME, valueFrom: {fieldRef: {fieldPath: metadata.name}}}
    - {name: GREETING, value: "hi $(NAME) $$(NAME) $(UNDEFINED)"}
    - {name: MODE, valueFrom: {configMapKeyRef: {name: env-config, key: MODE}}}
    - {name: PASS, valueFrom: {secretKeyRef: {name: env-secret, key: TOKEN}}}
    - {name: MAYBE, valueFrom: {secretKeyRef: {name: nowhere, key: x, optional: true}}}
    - {name: IP, valueFrom: {fieldRef: {fieldPath: status.podIP}}}
    - {name: NODE, valueFrom: {fieldRef: {fieldPath: spec.nodeName}}}
    - {name: MEM_MI, valueFrom: {resourceFieldRef: {resource: limits.memory, divisor: 1Mi}}}
    - {name: CPU_REQ, valueFrom: {resourceFieldRef: {resource: requests.cpu, divisor: 1m}}}
`;

describe('inside the pod: volumes, env, init, sidecar and ephemeral containers', { skip }, () => {
  const get = clusterFixture(`pi${process.pid % 10000}`);
  let c: Cluster;
  before(() => (c = get()));
  // The hostPath volume's directory (DirectoryOrCreate: the agent made it on the host) goes with the test.
  after(() => rmSync(`/tmp/k8ts-e2e-podinside-${process.pid}`, { recursive: true, force: true }));
  const jp = async (pod: string, path: string) => (await c.ok(['get', 'pod', pod, '-o', `jsonpath=${path}`])).trim();
  const exec = (pod: string, cmd: string) => c.ok(['exec', pod, '--', 'sh', '-c', cmd]);
  /** A failed check says what the pod looked like: its statuses and events. */
  const explained = async (pods: string[], body: () => Promise<void>) => {
    try {
      await body();
    } catch (e) {
      let more = '';
      for (const p of pods) more += `\n--- ${p}: ${await jp(p, '{.status}').catch(() => '?')}\n${await events(p).catch(() => '?')}`;
      if (e instanceof Error) e.message += more;
      throw e;
    }
  };
  const execIn = (pod: string, container: string, cmd: string) => c.ok(['exec', pod, '-c', container, '--', 'sh', '-c', cmd]);
  const events = async (name: string) =>
    c.ok(['get', 'events', '--field-selector', `involvedObject.name=${name}`, '-o', 'jsonpath={range .items[*]}{.reason}: {.message}{"\\n"}{end}']);
  const uid = (pod: string) => jp(pod, '{.metadata.uid}');
  /** The pod's mounts in the host (the agents run in its mount namespace). */
  const podMounts = async (u: string) => (await mountsUnder(c.home)).filter((m) => m.includes(u));

  test('every volume type is read from a container: configMap, secret, downwardAPI, projected, emptyDir (disk and Memory), hostPath, subPath, readOnly', async () => {
    await c.ok(['apply', '-f', '-'], VOLUMES.replace('HOSTDIR', String(process.pid)));
    await c.ok(['wait', '--for=condition=Ready', 'pod/vols', '--timeout=90s']);
    assert.equal(await exec('vols', 'cat /cfg/greeting; echo; cat /cfg/nested/other'), 'hello\nworld');
    assert.equal((await exec('vols', 'ls /cfg')).trim(), 'greeting\nnested', 'only the items are projected');
    assert.equal((await exec('vols', 'stat -L -c %a /cfg/greeting /cfg/nested/other')).trim(), '644\n600');
    assert.equal(await exec('vols', 'cat /sec/password; echo; cat /sec/user'), 's3cret\nadmin');
    assert.equal((await exec('vols', 'stat -L -c %a /sec/password')).trim(), '400');
    // A Secret is on a tmpfs, never on the node's disk; so is a Memory emptyDir, with its size limit.
    const mounts = await exec('vols', 'cat /proc/mounts');
    assert.match(mounts, /^tmpfs \/sec tmpfs ro/m);
    assert.match(mounts, /^tmpfs \/mem tmpfs .*size=8192k/m);
    assert.doesNotMatch(mounts, /^tmpfs \/cfg /m, 'a ConfigMap is on disk, as the kubelet keeps it');
    assert.equal(await exec('vols', 'cat /down/name; echo; cat /down/labels; echo; cat /down/mem'), 'vols\napp="vols"\ntier="backend"\n64');
    assert.equal(await exec('vols', 'cat /proj/cm-greeting /proj/sec-user /proj/ns'), 'helloadmindefault');
    // The atomic writer's layout: ..data is a link to a timestamped directory, each name a link through it.
    assert.match(await exec('vols', 'readlink /cfg/..data; readlink /cfg/greeting'), /^\.\.\d{4}_\d\d_\d\d_\d\d_\d\d_\d\d\.\d+\n\.\.data\/greeting\n$/);
    await exec('vols', 'echo x > /disk/f && mkdir -p /disk/a/b && echo deep > /disk/a/b/f && echo m > /mem/f && echo h > /host/f');
    assert.equal(await exec('vols', 'cat /sub/f; cat /ro/f; cat /one/greeting.txt'), 'deep\nx\nhello');
    assert.equal(readFileSync(`/tmp/k8ts-e2e-podinside-${process.pid}/f`, 'utf8'), 'h\n', 'the hostPath is the host directory');
    for (const [path, why] of [
      ['/ro/g', 'a readOnly mount'],
      ['/cfg/g', 'a configMap volume'],
      ['/sec/g', 'a secret volume'],
    ]) {
      const r = await c.k(['exec', 'vols', '--', 'sh', '-c', `echo no > ${path}`]);
      assert.notEqual(r.code, 0, `${why} was writable`);
      assert.match(r.stderr, /Read-only file system/);
    }
    // The memory emptyDir holds no more than its size limit.
    const big = await c.k(['exec', 'vols', '--', 'sh', '-c', 'dd if=/dev/zero of=/mem/big bs=1M count=16']);
    assert.notEqual(big.code, 0);
    assert.match(big.stderr, /No space left on device/);
  });

  test('a pod deleted: its tmpfs, overlay and subPath mounts and its volume directories are gone', async () => {
    const u = await uid('vols');
    assert.ok((await podMounts(u)).length >= 4, `the pod's volume mounts are visible in the host: ${await podMounts(u)}`);
    await c.ok(['delete', 'pod', 'vols', '--wait=true']);
    await until("the pod's mounts to go", async () => (await podMounts(u)).length === 0, 15_000);
    const dirs = (await import('node:child_process')).spawnSync('find', [c.home, '-path', `*${u}*`, '-maxdepth', '8'], { encoding: 'utf8' }).stdout.trim();
    assert.equal(dirs, '', 'directories of the deleted pod remain');
  });

  test('a ConfigMap change is in the mounted file within 1 s, and a reader never sees a mixed set', async () => {
    await c.ok(['apply', '-f', '-'], versioned(1) + '---\n' + READER);
    await c.ok(['wait', '--for=condition=Ready', 'pod/reader', '--timeout=90s']);
    await until('the reader to see version 1', async () => (await c.ok(['logs', 'reader'])).includes('seen 1 '));
    // The changes go straight to the API (kubectl's own start-up is not what is measured here).
    const rc = new RestClient(configFromKubeconfig(c.kubeconfig));
    for (const v of [2, 3, 4, 5]) {
      const t0 = Number(readFileSync('/proc/uptime', 'utf8').split(' ')[0]);
      await rc.patch(CONFIGMAPS, 'default', 'live', 'merge', { data: { a: String(v).repeat(2000), b: String(v).repeat(2000) } });
      const line = await until(
        `the reader to see version ${v}`,
        async () => (await c.ok(['logs', 'reader'])).split('\n').find((l) => l.startsWith(`seen ${v} `)),
        10_000,
      );
      const took = Number(line!.split(' ')[2]) - t0;
      // uptime has 10 ms steps; the measure starts before kubectl sends the change.
      assert.ok(took <= 1.0, `version ${v} reached the file ${took.toFixed(2)} s after the change was sent`);
    }
    rc.close();
    await sleep(500);
    assert.doesNotMatch(await c.ok(['logs', 'reader']), /MIXED/, 'the reader saw the two keys from different versions');
    assert.doesNotMatch(await c.ok(['logs', 'reader']), /HALF/, 'the reader saw a half-written file');
    await c.ok(['delete', 'pod', 'reader', '--wait=false']);
  });

  test('env from every source: value with $(VAR), configMapKeyRef, secretKeyRef, fieldRef, resourceFieldRef, envFrom with prefix, service links', async () => {
    await c.ok(['apply', '-f', '-'], ENV);
    await until('envs to finish', async () => (await jp('envs', '{.status.phase}')) === 'Succeeded', 90_000);
    const out = await c.ok(['logs', 'envs']);
    const env = new Map(
      out
        .split('\n')
        .filter((l) => l.includes('='))
        .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
    );
    const ip = await jp('envs', '{.status.podIP}');
    const svc = (await c.ok(['get', 'svc', 'backend-db', '-o', 'jsonpath={.spec.clusterIP}'])).trim();
    const api = (await c.ok(['get', 'svc', 'kubernetes', '-o', 'jsonpath={.spec.clusterIP}'])).trim();
    assert.equal(env.get('NAME'), 'envs');
    assert.equal(env.get('GREETING'), 'hi envs $(NAME) $(UNDEFINED)');
    assert.equal(env.get('MODE'), 'fast');
    assert.equal(env.get('PASS'), 't0k3n');
    assert.equal(env.get('TOKEN'), 't0k3n');
    assert.equal(env.get('CFG_MODE'), 'fast');
    assert.equal(env.get('CFG_LEVEL'), '3');
    assert.equal(env.has('MAYBE'), false);
    assert.equal(env.get('IP'), ip);
    assert.equal(env.get('NODE'), 'node1');
    assert.equal(env.get('MEM_MI'), '32');
    assert.equal(env.get('CPU_REQ'), '250');
    assert.equal(env.get('KUBERNETES_SERVICE_HOST'), api);
    assert.equal(env.get('KUBERNETES_SERVICE_PORT'), '443');
    assert.equal(env.get('BACKEND_DB_SERVICE_HOST'), svc);
    assert.equal(env.get('BACKEND_DB_SERVICE_PORT_SQL'), '5432');
    assert.equal(env.get('BACKEND_DB_PORT'), `tcp://${svc}:5432`);
    assert.match(out, /^ARGV envs$/m, '$(VAR) in command/args is expanded');
  });

  test('a missing Secret: FailedMount event, CreateContainerConfigError naming the key, retried until it appears', async () => {
    await c.ok(
      ['apply', '-f', '-'],
      `apiVersion: v1
kind: Pod
metadata: {name: needs-secret}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - {name: main, image: busybox, command: ["sh", "-c", "cat /s/k; sleep 3600"], volumeMounts: [{name: s, mountPath: /s}]}
  volumes: [{name: s, secret: {secretName: later}}]
---
apiVersion: v1
kind: Pod
metadata: {name: needs-key}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: main
    image: busybox
    command: ["sh", "-c", "echo $K; sleep 3600"]
    env: [{name: K, valueFrom: {secretKeyRef: {name: later-env, key: k}}}]
`,
    );
    await until('the FailedMount event', async () =>
      /FailedMount: MountVolume.SetUp failed for volume "s" : secret "later" not found/.test(await events('needs-secret')),
    );
    assert.equal(await jp('needs-secret', '{.status.containerStatuses[0].state.waiting.reason}'), 'ContainerCreating');
    await until(
      'CreateContainerConfigError',
      async () => (await jp('needs-key', '{.status.containerStatuses[0].state.waiting.reason}')) === 'CreateContainerConfigError',
    );
    assert.equal(await jp('needs-key', '{.status.containerStatuses[0].state.waiting.message}'), 'secret "later-env" not found');
    assert.match(await events('needs-key'), /Failed: Error: secret "later-env" not found/);
    await c.ok(['create', 'secret', 'generic', 'later-env', '--from-literal=other=1']);
    await until(
      'the message to name the missing key',
      async () => (await jp('needs-key', '{.status.containerStatuses[0].state.waiting.message}')) === "couldn't find key k in Secret default/later-env",
    );
    // The objects appear: both pods start without being touched (the informers re-sync them).
    await c.ok(['create', 'secret', 'generic', 'later', '--from-literal=k=v1']);
    await c
      .ok(['create', 'secret', 'generic', 'later-env', '--from-literal=k=v2', '--dry-run=client', '-o', 'yaml'])
      .then((y) => c.ok(['apply', '-f', '-'], y));
    await c.ok(['wait', '--for=condition=Ready', 'pod/needs-secret', 'pod/needs-key', '--timeout=30s']);
    assert.equal((await c.ok(['logs', 'needs-key'])).trim(), 'v2');
    await until('needs-secret to print its secret', async () => (await c.ok(['logs', 'needs-secret'])).trim() === 'v1');
    await c.ok(['delete', 'pod', 'needs-secret', 'needs-key', '--wait=false']);
  });

  test('a hostPath of the wrong type fails the mount with the reason', async () => {
    await c.ok(
      ['apply', '-f', '-'],
      `apiVersion: v1
kind: Pod
metadata: {name: wrong-host}
spec:
  terminationGracePeriodSeconds: 1
  containers: [{name: main, image: busybox, command: ["sleep", "3600"], volumeMounts: [{name: h, mountPath: /h}]}]
  volumes: [{name: h, hostPath: {path: /etc, type: File}}]
`,
    );
    await until('the FailedMount event', async () =>
      /FailedMount: MountVolume.SetUp failed for volume "h" : hostPath type check failed: \/etc is not a file/.test(await events('wrong-host')),
    );
    assert.equal(await jp('wrong-host', '{.status.containerStatuses[0].state.waiting.reason}'), 'ContainerCreating');
    await c.ok(['delete', 'pod', 'wrong-host', '--wait=false']);
  });

  test('../ in items[].path, a projected path and subPath is refused with 422', async () => {
    const pod = (vol: string, mount = '') => `apiVersion: v1
kind: Pod
metadata: {name: escape}
spec:
  containers: [{name: main, image: busybox, volumeMounts: [{name: v, mountPath: /v${mount}}]}]
  volumes: [{name: v, ${vol}}]
`;
    const cases: [string, RegExp][] = [
      [
        pod('configMap: {name: x, items: [{key: k, path: ../../etc/passwd}]}'),
        /spec.volumes\[0\].configMap.items\[0\].path: Invalid value: "..\/..\/etc\/passwd": must not contain '..'/,
      ],
      [
        pod('secret: {secretName: x, items: [{key: k, path: /abs}]}'),
        /spec.volumes\[0\].secret.items\[0\].path: Invalid value: "\/abs": must be a relative path/,
      ],
      [
        pod('projected: {sources: [{downwardAPI: {items: [{path: a/../../b, fieldRef: {fieldPath: metadata.name}}]}}]}'),
        /spec.volumes\[0\].projected.sources\[0\].downwardAPI.items\[0\].path: Invalid value: "a\/..\/..\/b": must not contain '..'/,
      ],
      [pod('configMap: {name: x, items: [{key: k, path: ..data}]}'), /must not start with '..'/],
      [pod('emptyDir: {}', ', subPath: ../../../etc'), /spec.containers\[0\].volumeMounts.subPath: Invalid value: "..\/..\/..\/etc": must not contain '..'/],
    ];
    for (const [manifest, want] of cases) {
      const r = await c.k(['apply', '-f', '-', '-v=6'], manifest);
      assert.notEqual(r.code, 0, manifest);
      assert.match(r.stderr, want);
      assert.match(r.stderr, /Response Status: 422|422 Unprocessable Entity/);
    }
  });

  test('init containers run in order to completion, a sidecar keeps running, app containers wait with PodInitializing', async () => {
    await c.ok(
      ['apply', '-f', '-'],
      `apiVersion: v1
kind: Pod
metadata: {name: inits}
spec:
  nodeSelector: {kubernetes.io/hostname: node2}
  terminationGracePeriodSeconds: 1
  initContainers:
  - {name: first, image: busybox, command: ["sh", "-c", "sleep 6; echo first >> /work/log"], volumeMounts: [{name: w, mountPath: /work}]}
  - {name: side, image: busybox, restartPolicy: Always, command: ["sh", "-c", "echo side >> /work/log; exec sleep 3600"], volumeMounts: [{name: w, mountPath: /work}]}
  - {name: second, image: busybox, command: ["sh", "-c", "echo second >> /work/log"], volumeMounts: [{name: w, mountPath: /work}]}
  containers:
  - {name: main, image: busybox, command: ["sh", "-c", "echo main >> /work/log; exec sleep 3600"], volumeMounts: [{name: w, mountPath: /work}]}
  volumes: [{name: w, emptyDir: {}}]
`,
    );
    await until('the first init container to run', async () => (await jp('inits', '{.status.initContainerStatuses[0].state.running}')) !== '');
    assert.match(await c.ok(['get', 'pod', 'inits']), /inits\s+0\/2\s+Init:0\/3/);
    assert.equal(await jp('inits', '{.status.containerStatuses[0].state.waiting.reason}'), 'PodInitializing');
    assert.equal(await jp('inits', '{.status.conditions[?(@.type=="Initialized")].status}'), 'False');
    await c.ok(['wait', '--for=condition=Ready', 'pod/inits', '--timeout=60s']);
    assert.equal(await exec('inits', 'cat /work/log'), 'first\nside\nsecond\nmain\n');
    assert.equal(await jp('inits', '{.status.initContainerStatuses[*].state.terminated.reason}'), 'Completed Completed');
    assert.equal((await jp('inits', '{.status.initContainerStatuses[1].state.running.startedAt}')) !== '', true, 'the sidecar runs beside main');
    assert.equal(await jp('inits', '{.status.phase}'), 'Running');
    assert.match(await c.ok(['get', 'pod', 'inits']), /inits\s+2\/2\s+Running/);

    // A failing init container under restartPolicy Never fails the pod; under Always it is retried.
    await c.ok(
      ['apply', '-f', '-'],
      `apiVersion: v1
kind: Pod
metadata: {name: init-fails}
spec:
  restartPolicy: Never
  terminationGracePeriodSeconds: 1
  initContainers: [{name: boom, image: busybox, command: ["sh", "-c", "exit 3"]}]
  containers: [{name: main, image: busybox, command: ["true"]}]
`,
    );
    await until('init-fails to fail', async () => (await jp('init-fails', '{.status.phase}')) === 'Failed');
    assert.equal(await jp('init-fails', '{.status.initContainerStatuses[0].state.terminated.exitCode}'), '3');
    assert.equal(await jp('init-fails', '{.status.containerStatuses[0].state.waiting.reason}'), 'PodInitializing');
    await c.ok(['delete', 'pod', 'init-fails', '--wait=false']);
  });

  test("sidecar probes: the next init container waits for the sidecar's startupProbe, its readiness counts in Ready, a liveness failure restarts it", async () => {
    await explained(['side-probes'], async () => {
      // A generous timeout: an exec probe that times out fails, and on a loaded machine a 1 s `runc exec` can
      // (the liveness probe's failureThreshold 1 would then kill the sidecar on its own).
      const probe = (cmd: string, more = '') => `{exec: {command: ["sh", "-c", "${cmd}"]}, periodSeconds: 1, timeoutSeconds: 15${more}}`;
      await c.ok(
        ['apply', '-f', '-'],
        `apiVersion: v1
kind: Pod
metadata: {name: side-probes}
spec:
  nodeSelector: {kubernetes.io/hostname: node2}
  terminationGracePeriodSeconds: 1
  initContainers:
  - name: side
    image: busybox
    restartPolicy: Always
    command: ["sh", "-c", "rm -f /work/kill; echo side >> /work/log; exec sleep 3600"]
    startupProbe: ${probe('test -e /work/started', ', failureThreshold: 120')}
    readinessProbe: ${probe('test -e /work/ready')}
    livenessProbe: ${probe('! test -e /work/kill', ', failureThreshold: 1')}
    volumeMounts: [{name: w, mountPath: /work}]
  - {name: after, image: busybox, command: ["sh", "-c", "echo after >> /work/log"], volumeMounts: [{name: w, mountPath: /work}]}
  containers:
  - {name: main, image: busybox, command: ["sh", "-c", "echo main >> /work/log; exec sleep 3600"], volumeMounts: [{name: w, mountPath: /work}]}
  volumes: [{name: w, emptyDir: {}}]
`,
      );
      await until('the sidecar to run', async () => (await jp('side-probes', '{.status.initContainerStatuses[0].state.running}')) !== '', 60_000);
      // Running but not started (its startupProbe fails): the next init container must not start.
      await sleep(4000);
      assert.equal(await jp('side-probes', '{.status.initContainerStatuses[0].started}'), 'false');
      assert.equal(await jp('side-probes', '{.status.initContainerStatuses[1].state.waiting.reason}'), 'PodInitializing');
      assert.equal(await jp('side-probes', '{.status.conditions[?(@.type=="Initialized")].status}'), 'False');
      assert.equal(await execIn('side-probes', 'side', 'cat /work/log'), 'side\n');
      await c.ok(['exec', 'side-probes', '-c', 'side', '--', 'touch', '/work/started']);
      await until(
        'the next init container and main to run',
        async () => (await jp('side-probes', '{.status.containerStatuses[0].state.running}')) !== '',
        60_000,
      );
      assert.equal(await jp('side-probes', '{.status.initContainerStatuses[1].state.terminated.reason}'), 'Completed');
      assert.equal(await jp('side-probes', '{.status.initContainerStatuses[0].started}'), 'true');
      // main is ready, the sidecar is not: the pod is not Ready, and says which container holds it.
      await until('main ready', async () => (await jp('side-probes', '{.status.containerStatuses[0].ready}')) === 'true');
      assert.equal(await jp('side-probes', '{.status.initContainerStatuses[0].ready}'), 'false');
      assert.equal(await jp('side-probes', '{.status.conditions[?(@.type=="Ready")].status}'), 'False');
      assert.equal(await jp('side-probes', '{.status.conditions[?(@.type=="Ready")].message}'), 'containers with unready status: [side]');
      await c.ok(['exec', 'side-probes', '-c', 'main', '--', 'touch', '/work/ready']);
      await c.ok(['wait', '--for=condition=Ready', 'pod/side-probes', '--timeout=30s']);
      assert.equal(await jp('side-probes', '{.status.initContainerStatuses[0].ready}'), 'true');
      // Liveness fails once: the sidecar (only) is killed and restarted; its new run clears the trigger.
      await c.ok(['exec', 'side-probes', '-c', 'main', '--', 'touch', '/work/kill']);
      await until('the sidecar restarted', async () => (await jp('side-probes', '{.status.initContainerStatuses[0].restartCount}')) === '1', 60_000);
      await c.ok(['wait', '--for=condition=Ready', 'pod/side-probes', '--timeout=60s']);
      assert.equal(await jp('side-probes', '{.status.containerStatuses[0].restartCount}'), '0', 'main is left alone');
      assert.match(await events('side-probes'), /Killing: Container side failed liveness probe, will be restarted/);
      assert.equal(await execIn('side-probes', 'main', 'cat /work/log'), 'side\nafter\nmain\nside\n');
      await c.ok(['delete', 'pod', 'side-probes', '--wait=false']);
    });
  });

  test('mountPropagation: HostToContainer sees a mount made on the host later, None does not, Bidirectional reaches the host; refused where it cannot work', async () => {
    const shared = `/tmp/k8ts-e2e-prop-${process.pid}`;
    const priv = `/tmp/k8ts-e2e-prop-private-${process.pid}`;
    const hostSh = (cmd: string) => {
      const r = sh(['sh', '-c', cmd]);
      if (r.code !== 0) throw new Error(`${cmd}: ${r.stderr}`);
    };
    try {
      // A shared mount to propagate from, and a private one (whatever the host's / is) to be refused.
      hostSh(
        `mkdir -p ${shared} ${priv} && mount --bind ${shared} ${shared} && mount --make-shared ${shared} && mount --bind ${priv} ${priv} && mount --make-private ${priv}`,
      );
      await c.ok(
        ['apply', '-f', '-'],
        `apiVersion: v1
kind: Pod
metadata: {name: prop}
spec:
  nodeSelector: {kubernetes.io/hostname: node1}
  terminationGracePeriodSeconds: 1
  containers:
  - {name: slave, image: busybox, command: ["sleep", "3600"], volumeMounts: [{name: h, mountPath: /host, mountPropagation: HostToContainer}]}
  - {name: private, image: busybox, command: ["sleep", "3600"], volumeMounts: [{name: h, mountPath: /host}]}
  - name: bidi
    image: busybox
    securityContext: {privileged: true}
    command: ["sh", "-c", "mkdir -p /host/fromc && mount -t tmpfs -o size=1m tmpfs /host/fromc && echo inside > /host/fromc/f; exec sleep 3600"]
    volumeMounts: [{name: h, mountPath: /host, mountPropagation: Bidirectional}]
  volumes: [{name: h, hostPath: {path: ${shared}, type: Directory}}]
`,
      );
      await explained(['prop'], () => c.ok(['wait', '--for=condition=Ready', 'pod/prop', '--timeout=60s']).then(() => {}));
      // A mount made on the host after the containers started.
      hostSh(`mkdir -p ${shared}/sub && mount -t tmpfs -o size=1m tmpfs ${shared}/sub && echo hi > ${shared}/sub/f`);
      assert.equal(await execIn('prop', 'slave', 'cat /host/sub/f'), 'hi\n');
      const none = await c.k(['exec', 'prop', '-c', 'private', '--', 'cat', '/host/sub/f']);
      assert.notEqual(none.code, 0, "a None mount does not receive the host's later mounts");
      // The privileged container's own mount reached the host.
      await until('the Bidirectional mount on the host', async () => readFileSync(`${shared}/fromc/f`, 'utf8') === 'inside\n');
      // Bidirectional for an unprivileged container: 422 from the API.
      const bad = await c.k(
        ['apply', '-f', '-'],
        `apiVersion: v1
kind: Pod
metadata: {name: prop-bad}
spec:
  containers: [{name: m, image: busybox, volumeMounts: [{name: h, mountPath: /host, mountPropagation: Bidirectional}]}]
  volumes: [{name: h, hostPath: {path: ${shared}}}]
`,
      );
      assert.notEqual(bad.code, 0);
      assert.match(
        bad.stderr,
        /spec.containers\[0\].volumeMounts\[0\].mountPropagation: Forbidden: Bidirectional mount propagation is available only to privileged containers/,
      );
      // HostToContainer from a private mount: the container waits with the reason naming the mount.
      await c.ok(
        ['apply', '-f', '-'],
        `apiVersion: v1
kind: Pod
metadata: {name: prop-private}
spec:
  nodeSelector: {kubernetes.io/hostname: node1}
  terminationGracePeriodSeconds: 1
  containers: [{name: m, image: busybox, command: ["sleep", "3600"], volumeMounts: [{name: h, mountPath: /host, mountPropagation: HostToContainer}]}]
  volumes: [{name: h, hostPath: {path: ${priv}, type: Directory}}]
`,
      );
      await until(
        'CreateContainerConfigError',
        async () => (await jp('prop-private', '{.status.containerStatuses[0].state.waiting.reason}')) === 'CreateContainerConfigError',
      );
      assert.match(
        await jp('prop-private', '{.status.containerStatuses[0].state.waiting.message}'),
        new RegExp(`volumeMount "h" \\(mountPropagation HostToContainer\\): path "${priv}" is mounted on "${priv}" but it is not a shared or slave mount`),
      );
      await c.ok(['delete', 'pod', 'prop', 'prop-private', '--wait=true', '--timeout=60s']);
    } finally {
      await c.k(['delete', 'pod', 'prop', 'prop-private', '--ignore-not-found', '--wait=false']);
      for (const d of [shared, priv]) {
        await unmountUnder(d);
        // Never remove through a mount.
        if ((await mountsUnder(d)).length === 0) rmSync(d, { recursive: true, force: true });
      }
    }
  });

  test('kubectl debug adds an ephemeral container in the pod (target pid namespace), its logs are served; the subresource is add-only', async () => {
    await c.ok([
      'debug',
      'inits',
      '--image=busybox',
      '--container=dbg',
      '--target=main',
      '--',
      'sh',
      '-c',
      'ps; cat /proc/1/root/work/log; ip -4 addr show eth0; echo done',
    ]);
    await until(
      'the debug container to finish',
      async () => (await jp('inits', '{.status.ephemeralContainerStatuses[0].state.terminated.reason}')) === 'Completed',
      60_000,
    );
    const out = await c.ok(['logs', 'inits', '-c', 'dbg']);
    assert.match(out, /sleep 3600/, "the target container's processes are visible");
    // The target's files through its root (the shared pid namespace), and the pod's own network.
    assert.match(out, /first\nside\nsecond\nmain\n/);
    assert.match(out, new RegExp(`inet ${(await jp('inits', '{.status.podIP}')).replace(/\./g, '\\.')}/`));
    assert.match(out, /done\n$/);
    assert.equal(await jp('inits', '{.spec.ephemeralContainers[0].targetContainerName}'), 'main');
    // Existing ephemeral containers may not be changed or removed; a bad target is refused.
    const r = await c.k([
      'patch',
      'pod',
      'inits',
      '--subresource=ephemeralcontainers',
      '--type=json',
      '-p',
      '[{"op":"remove","path":"/spec/ephemeralContainers/0"}]',
    ]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /existing ephemeral containers "dbg" may not be removed/);
    const bad = await c.k([
      'patch',
      'pod',
      'inits',
      '--subresource=ephemeralcontainers',
      '--type=strategic',
      '-p',
      '{"spec":{"ephemeralContainers":[{"name":"dbg2","image":"busybox","targetContainerName":"nope","ports":[{"containerPort":80}]}]}}',
    ]);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /targetContainerName: Not found: "nope"/);
    assert.match(bad.stderr, /ports: Forbidden: cannot be set for an Ephemeral Container/);
    const plain = await c.k(['patch', 'pod', 'inits', '--type=strategic', '-p', '{"spec":{"ephemeralContainers":[{"name":"x","image":"busybox"}]}}']);
    assert.notEqual(plain.code, 0, 'the pod itself cannot add ephemeral containers');
  });

  test('a projected serviceAccountToken is requested through TokenRequest: audience, pod binding, the CA and namespace beside it', async () => {
    await c.ok(
      ['apply', '-f', '-'],
      `apiVersion: v1
kind: Pod
metadata: {name: tok}
spec:
  terminationGracePeriodSeconds: 1
  containers: [{name: main, image: busybox, command: ["sh", "-c", "cat /t/token; echo; cat /var/run/secrets/kubernetes.io/serviceaccount/namespace; echo; sleep 3600"], volumeMounts: [{name: t, mountPath: /t}]}]
  volumes: [{name: t, projected: {sources: [{serviceAccountToken: {path: token, audience: vault, expirationSeconds: 3600}}]}}]
`,
    );
    await c.ok(['wait', '--for=condition=Ready', 'pod/tok', '--timeout=60s']);
    const [token, namespace] = (await c.ok(['logs', 'tok'])).trim().split('\n');
    const claims = JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString('utf8'));
    assert.deepEqual(claims.aud, ['vault']);
    assert.equal(claims['kubernetes.io']?.pod?.name, 'tok');
    assert.equal(claims.exp - claims.iat, 3600);
    assert.equal(namespace, 'default', 'the admission-added kube-api-access volume holds the namespace');
    // The CA the pod is given is the cluster's, byte for byte.
    const kcCa = Buffer.from(
      (await c.ok(['config', 'view', '--raw', '-o', 'jsonpath={.clusters[0].cluster.certificate-authority-data}'])).trim(),
      'base64',
    ).toString();
    const podCa = await c.ok(['exec', 'tok', '--', 'cat', '/var/run/secrets/kubernetes.io/serviceaccount/ca.crt']);
    assert.equal(podCa.trim(), kcCa.trim());
    await c.ok(['delete', 'pod', 'tok', '--wait=false']);
  });

  /** The API server's open watches of ConfigMaps and of Secrets (apiserver_registered_watchers). */
  const watchers = async () => {
    const { samples } = parseExposition(await c.ok(['get', '--raw', '/metrics']));
    const of = (kind: string) =>
      samples.filter((x) => x.name === 'apiserver_registered_watchers' && x.labels.group === '' && x.labels.kind === kind).reduce((a, x) => a + x.value, 0);
    return { cm: of('ConfigMap'), secret: of('Secret') };
  };
  const refObjects = ['a', 'b', 'c', 'd']
    .map((x) => `apiVersion: v1\nkind: ConfigMap\nmetadata: {name: ref-cm-${x}}\ndata: {v: "${x}1"}\n---\n`)
    .concat(['a', 'b', 'c'].map((x) => `apiVersion: v1\nkind: Secret\nmetadata: {name: ref-s-${x}}\nstringData: {v: "${x}"}\n---\n`))
    .join('');
  // On node1 both: the counts are that agent's. refs-all reads 4 ConfigMaps and 3 Secrets through volumes,
  // projected sources, envFrom and env; refs-one reads ref-cm-a only.
  const REFS = `apiVersion: v1
kind: Pod
metadata: {name: refs-all}
spec:
  nodeSelector: {kubernetes.io/hostname: node1}
  terminationGracePeriodSeconds: 1
  containers:
  - name: main
    image: busybox
    command: ["sleep", "3600"]
    envFrom: [{configMapRef: {name: ref-cm-c}}, {secretRef: {name: ref-s-c}}]
    env: [{name: D, valueFrom: {configMapKeyRef: {name: ref-cm-d, key: v}}}]
    volumeMounts: [{name: a, mountPath: /a}, {name: p, mountPath: /p}]
  volumes:
  - {name: a, configMap: {name: ref-cm-a}}
  - name: p
    projected: {sources: [{configMap: {name: ref-cm-b}}, {secret: {name: ref-s-a, items: [{key: v, path: sa}]}}, {secret: {name: ref-s-b, items: [{key: v, path: sb}]}}]}
---
apiVersion: v1
kind: Pod
metadata: {name: refs-one}
spec:
  nodeSelector: {kubernetes.io/hostname: node1}
  terminationGracePeriodSeconds: 1
  containers: [{name: main, image: busybox, command: ["sleep", "3600"], volumeMounts: [{name: a, mountPath: /a}]}]
  volumes: [{name: a, configMap: {name: ref-cm-a}}]
`;

  test('the watch of each ConfigMap and Secret a pod reads ends ~10 s after the last pod reading it is gone; the API server is back to its count', async () => {
    // What earlier tests' pods held ends on the same clock: the count is taken once it has held still for 12 s.
    let base = await watchers();
    let since = Date.now();
    await until(
      'the watch counts to hold still for 12 s',
      async () => {
        const now = await watchers();
        if (now.cm !== base.cm || now.secret !== base.secret) [base, since] = [now, Date.now()];
        return Date.now() - since >= 12_000;
      },
      90_000,
    );
    await c.ok(['apply', '-f', '-'], refObjects + REFS);
    await c.ok(['wait', '--for=condition=Ready', 'pod/refs-all', 'pod/refs-one', '--timeout=90s']);
    assert.equal((await exec('refs-all', 'cat /a/v /p/v /p/sa /p/sb; echo " $D $v"')).trim(), 'a1b1ab d1 c');
    assert.deepEqual(await watchers(), { cm: base.cm + 4, secret: base.secret + 3 }, 'one watch per object read on node1');
    // refs-all gone: its objects stay watched for the grace, then only ref-cm-a (refs-one reads it) is.
    await c.ok(['delete', 'pod', 'refs-all', '--wait=true']);
    const gone = Date.now();
    assert.deepEqual(await watchers(), { cm: base.cm + 4, secret: base.secret + 3 }, 'the watches outlive the pod for the grace');
    await until('the unused watches to end', async () => {
      const w = await watchers();
      return w.cm === base.cm + 1 && w.secret === base.secret;
    });
    assert.ok(Date.now() - gone >= 8_000, `the watches ended ${Date.now() - gone} ms after the pod was gone, before the ~10 s grace`);
  });

  test('a ConfigMap change still reaches a pod after another pod reading it was deleted; its watch ends with the last pod', async () => {
    const base = await watchers();
    await c.ok(['patch', 'configmap', 'ref-cm-a', '--type=merge', '-p', '{"data":{"v":"a2"}}']);
    await until('refs-one to see the change', async () => (await exec('refs-one', 'cat /a/v')) === 'a2', 15_000);
    await c.ok(['delete', 'pod', 'refs-one', '--wait=true']);
    await until('the last watch to end', async () => (await watchers()).cm === base.cm - 1, 30_000);
    assert.equal((await watchers()).secret, base.secret);
    await c.ok(['delete', 'configmap', 'ref-cm-a', 'ref-cm-b', 'ref-cm-c', 'ref-cm-d']);
    await c.ok(['delete', 'secret', 'ref-s-a', 'ref-s-b', 'ref-s-c']);
  });

  test('after an agent kill -9 and restart, the volumes of a pod deleted meanwhile are unmounted and removed', async () => {
    await c.ok(
      ['apply', '-f', '-'],
      `apiVersion: v1
kind: Pod
metadata: {name: crash}
spec:
  nodeSelector: {kubernetes.io/hostname: node1}
  terminationGracePeriodSeconds: 1
  containers: [{name: main, image: busybox, command: ["sleep", "3600"], volumeMounts: [{name: s, mountPath: /s}, {name: m, mountPath: /m}, {name: d, mountPath: /d, subPath: x}]}]
  volumes: [{name: s, secret: {secretName: app-secret}}, {name: m, emptyDir: {medium: Memory}}, {name: d, emptyDir: {}}]
`,
    );
    await c.ok(['wait', '--for=condition=Ready', 'pod/crash', '--timeout=60s']);
    const u = await uid('crash');
    assert.ok((await podMounts(u)).length >= 3);
    await restartLabProcess(c, 'agent-node1', async () => {
      await c.ok(['delete', 'pod', 'crash', '--force', '--grace-period=0']);
    });
    await until("the restarted agent to remove the pod's mounts", async () => (await podMounts(u)).length === 0, 60_000);
  });
});
