// One scenario, three plugins behind the same CniPlugin interface: k8ts-bridge in-process, k8ts-bridge as
// an executable (bin/k8ts-cni), and the reference bridge + host-local executables. Each must give the
// same observable result: an address in the subnet, a default route through the gateway, pod-to-pod
// and node-to-pod connectivity, CHECK, DEL that releases the address and can be repeated (root only).
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { execPlugin } from './exec.js';
import { k8tsBridgePlugin } from './plugin.js';
import type { CniConfig, CniPlugin, CniResult } from './types.js';
import { K8TS_CNI_BIN, Lab, REFERENCE_CNI_DIR, SKIP_NOT_ROOT, addressesOf, inspect, ping } from './testing.js';

interface Subject {
  name: string;
  versions: string[];
  plugin(lab: Lab): CniPlugin;
  conf(lab: Lab, version: string): CniConfig;
}

const ours = (lab: Lab, cniVersion: string): CniConfig => ({
  cniVersion,
  name: 'k8ts',
  type: 'k8ts-bridge',
  bridge: 'cbr0',
  ipam: { type: 'k8ts-ipam', subnet: '10.244.1.0/24', dataDir: lab.dataDir },
});

const referenceAvailable = existsSync(join(REFERENCE_CNI_DIR, 'bridge')) && existsSync(join(REFERENCE_CNI_DIR, 'host-local'));

const subjects: Subject[] = [
  { name: 'k8ts-bridge in-process', versions: ['0.4.0', '1.0.0', '1.1.0'], plugin: (lab) => k8tsBridgePlugin({ hostNetns: lab.node }), conf: ours },
  { name: 'k8ts-bridge executable', versions: ['0.4.0', '1.0.0', '1.1.0'], plugin: (lab) => execPlugin(K8TS_CNI_BIN, { hostNetns: lab.node }), conf: ours },
  {
    name: 'reference bridge + host-local',
    // Debian's containernetworking-plugins 1.1 speak spec versions up to 1.0.0.
    versions: ['0.4.0', '1.0.0'],
    plugin: (lab) => execPlugin(join(REFERENCE_CNI_DIR, 'bridge'), { hostNetns: lab.node, cniPath: [REFERENCE_CNI_DIR] }),
    conf: (lab, cniVersion) => ({
      cniVersion,
      name: 'k8ts',
      type: 'bridge',
      bridge: 'cbr0',
      isGateway: true,
      isDefaultGateway: true,
      hairpinMode: true,
      ipam: { type: 'host-local', subnet: '10.244.1.0/24', dataDir: lab.dataDir },
    }),
  },
];

/** What the scenario observed; every subject must observe the same. */
interface Observed {
  version: string;
  supportsVersion: boolean;
  addressesInSubnet: boolean;
  podHasItsAddress: boolean;
  gateway: string | undefined;
  defaultRoute: string | undefined;
  podToPod: boolean;
  nodeToPod: boolean;
  check: string;
  reservationsAfterAdd: number;
  delReleases: boolean;
  secondDel: string;
  otherPodStillReachable: boolean;
  delAfterNetnsGone: string;
  reservationsAtEnd: number;
}

const reservations = (lab: Lab) => {
  const dir = join(lab.dataDir, 'k8ts');
  return existsSync(dir)
    ? readdirSync(dir)
        .filter((f) => /^\d+\.\d+\.\d+\.\d+$/.test(f))
        .sort()
    : [];
};

const outcome = (p: Promise<unknown>) =>
  p.then(
    () => 'ok',
    (e: Error) => `error: ${e.message}`,
  );

async function scenario(s: Subject, version: string): Promise<Observed> {
  const lab = await new Lab().start();
  try {
    const plugin = s.plugin(lab);
    const conf = s.conf(lab, version);
    const [a, b] = [await lab.pod(), await lab.pod()];
    const rtA = { containerId: 'pod-a', netns: a, ifName: 'eth0' };
    const rtB = { containerId: 'pod-b', netns: b, ifName: 'eth0' };
    const ra: CniResult = await plugin.add(conf, rtA);
    const rb: CniResult = await plugin.add(conf, rtB);
    const [ipa, ipb] = [ra.ips?.[0]?.address ?? '', rb.ips?.[0]?.address ?? ''];
    const { routes } = await inspect(a);
    const def = routes.find((r) => r.dst === 'default');
    const obs: Partial<Observed> = {
      version,
      supportsVersion: (await plugin.version(version)).supportedVersions.includes(version),
      addressesInSubnet: [ipa, ipb].every((x) => /^10\.244\.1\.\d+\/24$/.test(x)) && ipa !== ipb,
      podHasItsAddress: (await addressesOf(a, 'eth0')).includes(ipa) && (await addressesOf(b, 'eth0')).includes(ipb),
      gateway: ra.ips?.[0]?.gateway,
      defaultRoute: def ? `via ${def.gateway} dev ${def.dev}` : undefined,
      podToPod: (await ping(a, ipb.split('/')[0])) && (await ping(b, ipa.split('/')[0])),
      nodeToPod: await ping(`/run/netns/${lab.node}`, ipa.split('/')[0]),
      check: await outcome(plugin.check({ ...conf, prevResult: ra }, rtA)),
      reservationsAfterAdd: reservations(lab).length,
    };
    await plugin.del({ ...conf, prevResult: ra }, rtA);
    obs.delReleases = !reservations(lab).includes(ipa.split('/')[0]);
    obs.secondDel = await outcome(plugin.del({ ...conf, prevResult: ra }, rtA));
    obs.otherPodStillReachable = await ping(`/run/netns/${lab.node}`, ipb.split('/')[0]);
    await lab.deletePod(b);
    obs.delAfterNetnsGone = await outcome(plugin.del({ ...conf, prevResult: rb }, rtB));
    obs.reservationsAtEnd = reservations(lab).length;
    return obs as Observed;
  } finally {
    await lab.cleanup();
  }
}

const expected = (version: string): Observed => ({
  version,
  supportsVersion: true,
  addressesInSubnet: true,
  podHasItsAddress: true,
  gateway: '10.244.1.1',
  defaultRoute: 'via 10.244.1.1 dev eth0',
  podToPod: true,
  nodeToPod: true,
  check: 'ok',
  reservationsAfterAdd: 2,
  delReleases: true,
  secondDel: 'ok',
  otherPodStillReachable: true,
  delAfterNetnsGone: 'ok',
  reservationsAtEnd: 0,
});

describe('CNI conformance: same scenario, same observations', { skip: SKIP_NOT_ROOT }, () => {
  const seen = new Map<string, Observed>();
  for (const s of subjects) {
    for (const v of s.versions) {
      const skip =
        s.name.startsWith('reference') && !referenceAvailable
          ? `needs ${REFERENCE_CNI_DIR}/bridge and host-local (apt-get install containernetworking-plugins)`
          : false;
      it(`${s.name}, cniVersion ${v}`, { skip }, async () => {
        const obs = await scenario(s, v);
        seen.set(`${s.name} ${v}`, obs);
        assert.deepEqual(obs, expected(v));
      });
    }
  }
  after(() => {
    // The point of the suite: whatever each one saw, they all saw the same for a given version.
    for (const v of ['0.4.0', '1.0.0']) {
      const views = subjects.map((s) => seen.get(`${s.name} ${v}`)).filter((o): o is Observed => !!o);
      for (const o of views.slice(1)) assert.deepEqual(o, views[0]);
    }
  });
});
