// Pod container → OCI config: Kubernetes argv, env and capability semantics, mounts and namespaces.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InvalidSpecError } from './errors.js';
import { BUSYBOX_CONFIG, type ImageConfig } from './images.js';
import { ALL_CAPABILITIES, DEFAULT_CAPABILITIES, capabilitySet, containerArgv, containerEnv, ociConfig, type ContainerSpec } from './spec.js';

const withEntrypoint: ImageConfig = { entrypoint: ['/entry', '-v'], cmd: ['serve', '--port=80'], env: ['PATH=/bin', 'LANG=C'], workingDir: '/srv' };

describe('containerArgv', () => {
  const cases: [string, ImageConfig, string[] | undefined, string[] | undefined, string[]][] = [
    ['busybox default is sh', BUSYBOX_CONFIG, undefined, undefined, ['sh']],
    ['command replaces cmd', BUSYBOX_CONFIG, ['sleep', '10'], undefined, ['sleep', '10']],
    ['args replace cmd', BUSYBOX_CONFIG, undefined, ['echo', 'hi'], ['echo', 'hi']],
    ['command then args', BUSYBOX_CONFIG, ['sh', '-c'], ['echo $0', 'x'], ['sh', '-c', 'echo $0', 'x']],
    ['entrypoint + cmd', withEntrypoint, undefined, undefined, ['/entry', '-v', 'serve', '--port=80']],
    ['entrypoint + args', withEntrypoint, undefined, ['check'], ['/entry', '-v', 'check']],
    ['command drops entrypoint and cmd', withEntrypoint, ['/bin/true'], undefined, ['/bin/true']],
    ['command + args, no image parts', withEntrypoint, ['/bin/echo'], ['a'], ['/bin/echo', 'a']],
    ['empty command is unset', withEntrypoint, [], undefined, ['/entry', '-v', 'serve', '--port=80']],
  ];
  for (const [name, image, command, args, want] of cases) {
    it(name, () => assert.deepEqual(containerArgv(image, command, args), want));
  }
  it('nothing to run is an error', () => {
    assert.throws(() => containerArgv({ ...BUSYBOX_CONFIG, cmd: [] }), InvalidSpecError);
  });
});

describe('containerEnv', () => {
  it('image env, HOSTNAME, then the container env overriding by name', () => {
    assert.deepEqual(
      containerEnv(withEntrypoint, 'web-0', [
        { name: 'A', value: '1' },
        { name: 'PATH', value: '/opt/bin' },
        { name: 'A', value: '2' },
        { name: 'EMPTY', value: '' },
      ]),
      ['PATH=/opt/bin', 'LANG=C', 'HOSTNAME=web-0', 'A=2', 'EMPTY='],
    );
  });
  it('rejects names with =', () => {
    assert.throws(() => containerEnv(BUSYBOX_CONFIG, 'h', [{ name: 'A=B', value: '' }]), InvalidSpecError);
  });
});

describe('capabilitySet', () => {
  it('defaults to the Docker set', () => assert.deepEqual(capabilitySet(), DEFAULT_CAPABILITIES));
  it('adds and drops, with or without the CAP_ prefix, any case', () => {
    const caps = capabilitySet({ capabilities: { add: ['NET_ADMIN', 'cap_sys_time'], drop: ['NET_RAW', 'CAP_MKNOD'] } });
    assert.ok(caps.includes('CAP_NET_ADMIN') && caps.includes('CAP_SYS_TIME'));
    assert.ok(!caps.includes('CAP_NET_RAW') && !caps.includes('CAP_MKNOD'));
    assert.equal(caps.length, DEFAULT_CAPABILITIES.length);
  });
  it('drop ALL then add keeps only the added ones', () => {
    assert.deepEqual(capabilitySet({ capabilities: { drop: ['ALL'], add: ['NET_BIND_SERVICE'] } }), ['CAP_NET_BIND_SERVICE']);
  });
  it('add ALL then drop', () => {
    const caps = capabilitySet({ capabilities: { add: ['ALL'], drop: ['SYS_ADMIN'] } }, 40);
    assert.equal(caps.length, 40);
    assert.ok(!caps.includes('CAP_SYS_ADMIN'));
  });
  it('privileged gets every capability the kernel has', () => {
    assert.deepEqual(capabilitySet({ privileged: true }, 40), ALL_CAPABILITIES);
    assert.deepEqual(capabilitySet({ privileged: true }, 37), ALL_CAPABILITIES.slice(0, 38));
    // Never more than the agent's own bounding set (here without CAP_SYS_RESOURCE, bit 24).
    const bnd = (1n << 41n) - 1n - (1n << 24n);
    assert.deepEqual(
      capabilitySet({ privileged: true }, 40, bnd),
      ALL_CAPABILITIES.filter((c) => c !== 'CAP_SYS_RESOURCE'),
    );
  });
  it('unknown names are errors', () => {
    assert.throws(() => capabilitySet({ capabilities: { add: ['NET_FLY'] } }), /unknown capability CAP_NET_FLY/);
  });
});

describe('ociConfig', () => {
  const spec: ContainerSpec = {
    name: 'app',
    podName: 'web-0',
    image: 'busybox',
    netns: '/run/netns/pod1',
    env: [{ name: 'MODE', value: 'x' }],
    etcHosts: '/pods/1/hosts',
    etcHostname: '/pods/1/hostname',
    resolvConf: '/pods/1/resolv.conf',
    mounts: [
      { hostPath: '/pods/1/volumes/data', containerPath: '/data' },
      { hostPath: '/pods/1/volumes/cfg', containerPath: '/cfg', readOnly: true },
    ],
  };
  const input = { spec, image: BUSYBOX_CONFIG, argv: ['sh'], lower: '/images/busybox/rootfs', upper: '/c/1/upper', work: '/c/1/work', lastCap: 40 };
  type Mount = { destination: string; type: string; source: string; options?: string[] };
  type Cfg = {
    process: {
      args: string[];
      env: string[];
      cwd: string;
      user: { uid: number; gid: number };
      capabilities: { bounding: string[]; effective: string[]; permitted: string[] };
    };
    root: { path: string; readonly: boolean };
    hostname: string;
    mounts: Mount[];
    linux: {
      namespaces: { type: string; path?: string }[];
      maskedPaths?: string[];
      readonlyPaths?: string[];
      cgroupsPath?: string;
      resources: { devices: { allow: boolean }[] };
    };
  };

  it('runs the argv with env, cwd, hostname and the default capabilities', () => {
    const c = ociConfig(input) as unknown as Cfg;
    assert.deepEqual(c.process.args, ['sh']);
    assert.deepEqual(c.process.env, ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'HOSTNAME=web-0', 'MODE=x']);
    assert.equal(c.process.cwd, '/');
    assert.deepEqual(c.process.user, { uid: 0, gid: 0 });
    assert.equal(c.hostname, 'web-0');
    for (const set of ['bounding', 'effective', 'permitted'] as const) assert.deepEqual(c.process.capabilities[set], DEFAULT_CAPABILITIES);
    assert.deepEqual(c.root, { path: 'rootfs', readonly: false });
  });

  it('joins the pod network namespace and makes its own pid, ipc, uts and mount namespaces', () => {
    const c = ociConfig(input) as unknown as Cfg;
    assert.deepEqual(c.linux.namespaces, [{ type: 'pid' }, { type: 'network', path: '/run/netns/pod1' }, { type: 'ipc' }, { type: 'uts' }, { type: 'mount' }]);
  });

  it('mounts an overlay root first, the kernel filesystems, the pod files and the volumes', () => {
    const c = ociConfig(input) as unknown as Cfg;
    assert.deepEqual(c.mounts[0], {
      destination: '/',
      type: 'overlay',
      source: 'overlay',
      options: ['lowerdir=/images/busybox/rootfs', 'upperdir=/c/1/upper', 'workdir=/c/1/work'],
    });
    const byDest = new Map(c.mounts.map((m) => [m.destination, m]));
    assert.equal(byDest.get('/proc')?.type, 'proc');
    assert.equal(byDest.get('/dev')?.type, 'tmpfs');
    assert.equal(byDest.get('/dev/pts')?.type, 'devpts');
    assert.equal(byDest.get('/dev/shm')?.type, 'tmpfs');
    assert.equal(byDest.get('/dev/mqueue')?.type, 'mqueue');
    assert.ok(byDest.get('/sys')?.options?.includes('ro'));
    assert.equal(byDest.get('/etc/hosts')?.source, '/pods/1/hosts');
    assert.equal(byDest.get('/etc/hostname')?.source, '/pods/1/hostname');
    assert.equal(byDest.get('/etc/resolv.conf')?.source, '/pods/1/resolv.conf');
    assert.deepEqual(byDest.get('/data'), { destination: '/data', type: 'bind', source: '/pods/1/volumes/data', options: ['rbind', 'rprivate', 'rw'] });
    assert.deepEqual(byDest.get('/cfg')?.options, ['rbind', 'rprivate', 'ro']);
    assert.ok(c.linux.maskedPaths?.includes('/proc/kcore'));
    assert.ok(c.linux.readonlyPaths?.includes('/proc/sys'));
  });

  it('privileged: all capabilities, writable /sys, no masked paths, all devices allowed', () => {
    const c = ociConfig({ ...input, spec: { ...spec, securityContext: { privileged: true } } }) as unknown as Cfg;
    assert.deepEqual(c.process.capabilities.effective, ALL_CAPABILITIES);
    assert.ok(c.mounts.find((m) => m.destination === '/sys')?.options?.includes('rw'));
    assert.equal(c.linux.maskedPaths, undefined);
    assert.deepEqual(c.linux.resources.devices, [{ allow: true, access: 'rwm' }]);
  });

  it('user, group, read-only root, working dir and cgroup path', () => {
    const c = ociConfig({
      ...input,
      cgroupsPath: '/k8ts/abc',
      spec: { ...spec, workingDir: '/data', securityContext: { runAsUser: 1000, runAsGroup: 2000, readOnlyRootFilesystem: true } },
    }) as unknown as Cfg;
    assert.deepEqual(c.process.user, { uid: 1000, gid: 2000 });
    assert.equal(c.root.readonly, true);
    assert.equal(c.process.cwd, '/data');
    assert.equal(c.linux.cgroupsPath, '/k8ts/abc');
  });

  it('rejects relative paths and paths an overlay option cannot hold', () => {
    assert.throws(() => ociConfig({ ...input, spec: { ...spec, workingDir: 'tmp' } }), InvalidSpecError);
    assert.throws(() => ociConfig({ ...input, spec: { ...spec, mounts: [{ hostPath: '/x', containerPath: 'data' }] } }), InvalidSpecError);
    assert.throws(() => ociConfig({ ...input, spec: { ...spec, mounts: [{ hostPath: '/x', containerPath: '/' }] } }), InvalidSpecError);
    assert.throws(() => ociConfig({ ...input, spec: { ...spec, netns: 'pod1' } }), InvalidSpecError);
    assert.throws(() => ociConfig({ ...input, upper: '/c/a,b/upper' }), InvalidSpecError);
  });
});
