// k8ts-bridge in-process, every command for every supported spec version, in a throwaway node namespace
// with throwaway pod namespaces (root only).
import { afterEach, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { run } from '../../util/exec.js';
import type { K8tsBridgeConfig } from './config.js';
import { ipBatch, type IpLink } from './ip.js';
import { cniAdd, cniCheck, cniDel, cniGc, cniStatus, cniVersion, hostVethName, k8tsBridgePlugin } from './plugin.js';
import { CniError, SUPPORTED_VERSIONS, type CniResult, type RuntimeParams } from './types.js';
import { Lab, SKIP_NOT_ROOT, addressesOf, inspect, ping } from './testing.js';
import { NodeHelper, installNodeHelper } from '../helper.js';

async function cniCode(p: Promise<unknown>): Promise<CniError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof CniError, `expected a CniError, got ${(e as Error)?.stack ?? e}`);
    return e;
  }
  assert.fail('expected the call to fail');
}

const reservations = (dataDir: string) => {
  const dir = join(dataDir, 'k8ts');
  return existsSync(dir)
    ? readdirSync(dir)
        .filter((f) => /^\d+\.\d+\.\d+\.\d+$/.test(f))
        .sort()
    : [];
};

async function nodeLinks(lab: Lab): Promise<IpLink[]> {
  return JSON.parse((await run(['ip', '-n', lab.node, '-j', '-d', 'link', 'show'])).stdout) as IpLink[];
}

// Each version by `ip -batch`; the newest also as in the agent, with a node helper standing in the node's
// namespace, which makes the links by rtnetlink and runs every program.
const VARIANTS: [string, 'ip' | 'the node helper'][] = [...SUPPORTED_VERSIONS.map((v): [string, 'ip'] => [v, 'ip']), ['1.1.0', 'the node helper']];
for (const [v, via] of VARIANTS) {
  const atLeast11 = v === '1.1.0';
  describe(`k8ts-bridge in-process (cniVersion ${v}, links by ${via})`, { skip: SKIP_NOT_ROOT }, () => {
    let lab: Lab;
    let helper: NodeHelper | undefined;
    beforeEach(async () => {
      lab = await new Lab().start();
      if (via === 'the node helper') {
        helper = new NodeHelper(join(lab.dataDir, 'helper'), 'perl', process.arch, `/run/netns/${lab.node}`);
        installNodeHelper(helper);
      }
    });
    afterEach(async () => {
      installNodeHelper(undefined);
      await helper?.close();
      helper = undefined;
      await lab.cleanup();
    });

    const conf = (over: Partial<K8tsBridgeConfig> = {}): K8tsBridgeConfig => ({
      cniVersion: v,
      name: 'k8ts',
      type: 'k8ts-bridge',
      ipam: { type: 'k8ts-ipam', subnet: '10.244.1.0/24', dataDir: lab.dataDir },
      ...over,
    });
    const opts = () => ({ hostNetns: lab.node });
    const rt = (netns: string, containerId: string, ifName = 'eth0'): RuntimeParams => ({ containerId, netns, ifName });
    const withPrev = (c: K8tsBridgeConfig, prevResult: CniResult): K8tsBridgeConfig => ({ ...c, prevResult });

    it('ADD gives the pod an address from the subnet, lo up and a default route, and the result says so', async () => {
      const ns = await lab.pod();
      const res = await cniAdd(conf(), rt(ns, 'pod-a'), opts());
      assert.equal(res.cniVersion, v);
      const veth = hostVethName('pod-a', 'eth0');
      assert.deepEqual(
        res.interfaces?.map((i) => i.name),
        ['cbr0', veth, 'eth0'],
      );
      assert.equal(res.interfaces?.[2].sandbox, ns);
      assert.equal(res.interfaces?.[0].sandbox, undefined);
      assert.equal(res.ips?.length, 1);
      const ipc = res.ips![0];
      assert.match(ipc.address, /^10\.244\.1\.\d+\/24$/);
      assert.equal(ipc.gateway, '10.244.1.1');
      assert.equal(ipc.interface, 2);
      assert.equal(ipc.version, v === '0.4.0' ? '4' : undefined, 'ips[].version exists in 0.4.0 results only');
      assert.deepEqual(res.routes, [{ dst: '0.0.0.0/0', gw: '10.244.1.1' }]);

      const { links, routes } = await inspect(ns);
      const eth0 = links.find((l) => l.ifname === 'eth0')!;
      assert.ok(eth0.flags.includes('UP'));
      assert.equal(eth0.address, res.interfaces![2].mac);
      assert.deepEqual(await addressesOf(ns, 'eth0'), [ipc.address]);
      assert.ok(links.find((l) => l.ifname === 'lo')!.flags.includes('UP'), 'lo is up');
      assert.ok(
        routes.some((r) => r.dst === 'default' && r.gateway === '10.244.1.1' && r.dev === 'eth0'),
        JSON.stringify(routes),
      );

      const host = (await nodeLinks(lab)).find((l) => l.ifname === veth)!;
      assert.equal(host.master, 'cbr0');
      assert.equal(host.address, res.interfaces![1].mac);
      const info = (host as IpLink & { linkinfo?: { info_slave_data?: { hairpin?: boolean } } }).linkinfo;
      assert.equal(info?.info_slave_data?.hairpin, true, 'hairpin is on by default');
      assert.deepEqual(await addressesOf(`/run/netns/${lab.node}`, 'cbr0'), ['10.244.1.1/24']);
      assert.deepEqual(reservations(lab.dataDir), [ipc.address.split('/')[0]]);
    });

    it('two pods on the bridge reach each other, and the node (gateway) reaches both', async () => {
      const [a, b] = [await lab.pod(), await lab.pod()];
      const ra = await cniAdd(conf(), rt(a, 'pod-a'), opts());
      const rb = await cniAdd(conf(), rt(b, 'pod-b'), opts());
      const [ipa, ipb] = [ra.ips![0].address.split('/')[0], rb.ips![0].address.split('/')[0]];
      assert.notEqual(ipa, ipb);
      assert.ok(await ping(a, ipb), 'pod a → pod b');
      assert.ok(await ping(b, ipa), 'pod b → pod a');
      assert.ok(await ping(a, '10.244.1.1'), 'pod a → gateway');
      assert.ok(await ping(`/run/netns/${lab.node}`, ipa), 'node → pod a');
      assert.ok(await ping(`/run/netns/${lab.node}`, ipb), 'node → pod b');
    });

    it('applies mtu, and leaves hairpin off and the gateway out when told so', async () => {
      const ns = await lab.pod();
      const res = await cniAdd(conf({ mtu: 1400, hairpinMode: false, isGateway: false }), rt(ns, 'pod-a'), opts());
      assert.equal(res.ips![0].gateway, undefined);
      assert.deepEqual(res.routes, []);
      assert.deepEqual(
        res.interfaces!.map((i) => i.mtu),
        atLeast11 ? [1400, 1400, 1400] : [undefined, undefined, undefined],
      );
      const { links, routes } = await inspect(ns);
      assert.equal(links.find((l) => l.ifname === 'eth0')!.mtu, 1400);
      assert.ok(!routes.some((r) => r.dst === 'default'));
      const host = (await nodeLinks(lab)).find((l) => l.ifname === hostVethName('pod-a', 'eth0'))! as IpLink & {
        linkinfo?: { info_slave_data?: { hairpin?: boolean } };
      };
      assert.equal(host.mtu, 1400);
      assert.equal(host.linkinfo?.info_slave_data?.hairpin, false);
      assert.deepEqual(await addressesOf(`/run/netns/${lab.node}`, 'cbr0'), []);
    });

    it('converges the bridge: puts back a removed gateway address and brings it up again', async () => {
      await cniAdd(conf(), rt(await lab.pod(), 'pod-a'), opts());
      await ipBatch({ kind: 'named', name: lab.node }, ['addr flush dev cbr0', 'link set dev cbr0 down']);
      const b = await lab.pod();
      await cniAdd(conf(), rt(b, 'pod-b'), opts());
      assert.deepEqual(await addressesOf(`/run/netns/${lab.node}`, 'cbr0'), ['10.244.1.1/24']);
      assert.ok(await ping(b, '10.244.1.1'));
    });

    it('ADD twice for the same container fails with code 101 and leaves the first attachment working', async () => {
      const ns = await lab.pod();
      const first = await cniAdd(conf(), rt(ns, 'pod-a'), opts());
      const e = await cniCode(cniAdd(conf(), rt(ns, 'pod-a'), opts()));
      assert.equal(e.code, 101);
      assert.match(e.message, /eth0 already exists/);
      assert.deepEqual(await addressesOf(ns, 'eth0'), [first.ips![0].address]);
      assert.deepEqual(reservations(lab.dataDir), [first.ips![0].address.split('/')[0]]);
      assert.ok(await ping(ns, '10.244.1.1'));
    });

    it('ADD into a namespace whose interface name is taken by something else fails with code 101, releasing its address', async () => {
      const ns = await lab.pod();
      await ipBatch({ kind: 'named', name: ns.split('/').pop()! }, ['link add name eth0 type veth peer name other']);
      const e = await cniCode(cniAdd(conf(), rt(ns, 'pod-a'), opts()));
      assert.equal(e.code, 101);
      assert.match(e.message, /eth0 already exists/);
      assert.deepEqual(reservations(lab.dataDir), []);
      assert.ok(!(await nodeLinks(lab)).some((l) => l.ifname === hostVethName('pod-a', 'eth0')));
    });

    it('a retried ADD after a crash that left the host veth behind replaces it and keeps the address', async () => {
      const ns = await lab.pod();
      const first = await cniAdd(conf(), rt(ns, 'pod-a'), opts());
      // What a crash between the node batch and the pod batch leaves: the veth, no pod address.
      await ipBatch({ kind: 'named', name: ns.split('/').pop()! }, ['addr flush dev eth0']);
      const again = await cniAdd(conf(), rt(ns, 'pod-a'), opts());
      assert.equal(again.ips![0].address, first.ips![0].address);
      assert.deepEqual(await addressesOf(ns, 'eth0'), [first.ips![0].address]);
      assert.ok(await ping(ns, '10.244.1.1'));
      assert.equal((await nodeLinks(lab)).filter((l) => l.ifname.startsWith('veth')).length, 1);
    });

    it('a failed ADD releases the address it took: target is not a network namespace, or the bridge name is taken', async () => {
      const notNs = join(lab.dataDir, 'not-a-netns');
      writeFileSync(notNs, '');
      const e = await cniCode(cniAdd(conf(), rt(notNs, 'pod-a'), opts()));
      assert.equal(e.code, 100);
      assert.deepEqual(reservations(lab.dataDir), []);

      await ipBatch({ kind: 'named', name: lab.node }, ['link del dev cbr0', 'link add name cbr0 type ifb']);
      const e2 = await cniCode(cniAdd(conf(), rt(await lab.pod(), 'pod-b'), opts()));
      assert.equal(e2.code, 100);
      assert.match(e2.message, /cbr0/);
      assert.deepEqual(reservations(lab.dataDir), []);
      assert.ok(!(await nodeLinks(lab)).some((l) => l.ifname.startsWith('veth')));
    });

    it('ADD with a missing namespace or missing runtime parameters fails with code 4 naming them', async () => {
      const e = await cniCode(cniAdd(conf(), rt('/run/netns/k8tscni-does-not-exist', 'pod-a'), opts()));
      assert.equal(e.code, 4);
      assert.match(e.message, /CNI_NETNS/);
      const e2 = await cniCode(cniAdd(conf(), { containerId: '', netns: '', ifName: 'bad/name' }, opts()));
      assert.equal(e2.code, 4);
      assert.match(e2.message, /CNI_CONTAINERID, CNI_IFNAME, CNI_NETNS/);
      assert.deepEqual(reservations(lab.dataDir), []);
    });

    it('bad configurations fail with code 7 naming the field, and create nothing', async () => {
      const ns = await lab.pod();
      for (const [field, c] of [
        ['ipam.subnet', conf({ ipam: { type: 'k8ts-ipam', subnet: '10.244.1.0/33', dataDir: lab.dataDir } })],
        ['bridge', conf({ bridge: 'has space' })],
        ['mtu', conf({ mtu: 10 })],
        ['type', conf({ type: 'bridge' })],
      ] as const) {
        const e = await cniCode(cniAdd(c, rt(ns, 'pod-a'), opts()));
        assert.equal(e.code, 7, e.message);
        assert.ok(e.message.includes(`${field}:`), e.message);
      }
      const e = await cniCode(cniAdd(conf({ cniVersion: '0.3.1' }), rt(ns, 'pod-a'), opts()));
      assert.equal(e.code, 1);
      assert.deepEqual(
        (await nodeLinks(lab)).map((l) => l.ifname),
        ['lo'],
      );
    });

    it('when the range is exhausted ADD fails with code 103 naming the range, leaving nothing behind', async () => {
      const small = () => conf({ ipam: { type: 'k8ts-ipam', subnet: '10.244.1.0/29', dataDir: lab.dataDir } }); // 5 pod addresses
      for (let i = 0; i < 5; i++) await cniAdd(small(), rt(await lab.pod(), `pod-${i}`), opts());
      const ns = await lab.pod();
      const e = await cniCode(cniAdd(small(), rt(ns, 'pod-x'), opts()));
      assert.equal(e.code, 103);
      assert.match(e.message, /10\.244\.1\.1-10\.244\.1\.6/);
      assert.equal(reservations(lab.dataDir).length, 5);
      assert.ok(!(await inspect(ns)).links.some((l) => l.ifname === 'eth0'));
      if (atLeast11) assert.equal((await cniCode(cniStatus(small()))).code, 50);
    });

    if (via === 'the node helper')
      it('ADD and DEL of a second pod start no program (the bridge made by the first)', async () => {
        const [a, b] = [await lab.pod(), await lab.pod()];
        await cniAdd(conf(), rt(a, 'pod-a'), opts());
        const programs = helper!.programs;
        const rb = await cniAdd(conf(), rt(b, 'pod-b'), opts());
        await cniCheck(withPrev(conf(), rb), rt(b, 'pod-b'), opts());
        await cniDel(conf(), rt(b, 'pod-b'), opts());
        assert.equal(helper!.programs - programs, 2, "the two programs are CHECK's: ADD and DEL started none");
        const host = (await nodeLinks(lab)).find((l) => l.ifname === hostVethName('pod-b', 'eth0'))!;
        assert.ok(!host.flags.includes('UP'), 'DEL set the host end down');
      });

    it('DEL releases the address and cuts the pod off; the same container can be added again', async () => {
      const [a, b] = [await lab.pod(), await lab.pod()];
      const ra = await cniAdd(conf(), rt(a, 'pod-a'), opts());
      const rb = await cniAdd(conf(), rt(b, 'pod-b'), opts());
      const ipb = rb.ips![0].address.split('/')[0];
      await cniDel(withPrev(conf(), ra), rt(a, 'pod-a'), opts());
      assert.deepEqual(reservations(lab.dataDir), [ipb]);
      const host = (await nodeLinks(lab)).find((l) => l.ifname === hostVethName('pod-a', 'eth0'));
      assert.ok(!host?.flags.includes('UP'), 'the host end is down or gone');
      assert.equal(await ping(a, ipb), false, 'a deleted pod reaches nothing');
      const again = await cniAdd(conf(), rt(a, 'pod-a'), opts());
      assert.notEqual(again.ips![0].address, ra.ips![0].address, 'a freed address is not handed out again at once');
      assert.ok(await ping(a, ipb));
    });

    it('DEL is idempotent: twice, without prevResult, after the namespace is gone, for an unknown container', async () => {
      const ns = await lab.pod();
      const res = await cniAdd(conf(), rt(ns, 'pod-a'), opts());
      await cniDel(conf(), rt(ns, 'pod-a'), opts());
      await cniDel(withPrev(conf(), res), rt(ns, 'pod-a'), opts());
      assert.deepEqual(reservations(lab.dataDir), []);

      const ns2 = await lab.pod();
      const res2 = await cniAdd(conf(), rt(ns2, 'pod-b'), opts());
      await lab.deletePod(ns2);
      await cniDel(withPrev(conf(), res2), rt(ns2, 'pod-b'), opts());
      await cniDel(conf(), rt('', 'pod-b'), opts());
      await cniDel(conf(), rt('/run/netns/k8tscni-never-existed', 'never-added'), opts());
      assert.deepEqual(reservations(lab.dataDir), []);
    });

    it('CHECK passes after ADD and fails with code 102 naming what changed', async () => {
      const ns = await lab.pod();
      const res = await cniAdd(conf(), rt(ns, 'pod-a'), opts());
      await cniCheck(withPrev(conf(), res), rt(ns, 'pod-a'), opts());
      const e0 = await cniCode(cniCheck(conf(), rt(ns, 'pod-a'), opts()));
      assert.equal(e0.code, 7);
      assert.match(e0.message, /prevResult/);

      const podNs = { kind: 'named' as const, name: ns.split('/').pop()! };
      await ipBatch(podNs, ['route del default']);
      const e1 = await cniCode(cniCheck(withPrev(conf(), res), rt(ns, 'pod-a'), opts()));
      assert.equal(e1.code, 102);
      assert.match(e1.message, /default route via 10\.244\.1\.1/);

      await ipBatch(podNs, ['route add default via 10.244.1.1 dev eth0']);
      await cniCheck(withPrev(conf(), res), rt(ns, 'pod-a'), opts());
      await ipBatch(podNs, [`addr del ${res.ips![0].address} dev eth0`]);
      const e2 = await cniCode(cniCheck(withPrev(conf(), res), rt(ns, 'pod-a'), opts()));
      assert.equal(e2.code, 102);
      assert.match(e2.message, /lacks address/);

      await ipBatch({ kind: 'named', name: lab.node }, [`link set dev ${hostVethName('pod-a', 'eth0')} nomaster`]);
      const e3 = await cniCode(cniCheck(withPrev(conf(), res), rt(ns, 'pod-a'), opts()));
      assert.match(e3.message, /not attached to bridge cbr0/);

      await cniDel(withPrev(conf(), res), rt(ns, 'pod-a'), opts());
      const e4 = await cniCode(cniCheck(withPrev(conf(), res), rt(ns, 'pod-a'), opts()));
      assert.equal(e4.code, 102);
    });

    it(atLeast11 ? 'STATUS succeeds, and fails with code 50 when the data dir is not writable' : 'STATUS is refused with code 1 (it needs 1.1.0)', async () => {
      if (!atLeast11) {
        const e = await cniCode(cniStatus(conf()));
        assert.equal(e.code, 1);
        assert.match(e.message, /does not allow STATUS/);
        return;
      }
      await cniStatus(conf());
      const file = join(lab.dataDir, 'a-file');
      writeFileSync(file, '');
      const e = await cniCode(cniStatus(conf({ ipam: { type: 'k8ts-ipam', subnet: '10.244.1.0/24', dataDir: join(file, 'sub') } })));
      assert.equal(e.code, 50);
      assert.match(e.message, /not writable/);
    });

    it(atLeast11 ? 'GC releases stale allocations and their host veths, keeping valid ones' : 'GC is refused with code 1 (it needs 1.1.0)', async () => {
      if (!atLeast11) {
        const e = await cniCode(cniGc({ ...conf(), 'cni.dev/valid-attachments': [] }, opts()));
        assert.equal(e.code, 1);
        assert.match(e.message, /does not allow GC/);
        return;
      }
      const [a, b] = [await lab.pod(), await lab.pod()];
      const ra = await cniAdd(conf(), rt(a, 'pod-a'), opts());
      await cniAdd(conf(), rt(b, 'pod-b'), opts());
      const e = await cniCode(cniGc(conf(), opts()));
      assert.equal(e.code, 7);
      assert.match(e.message, /cni\.dev\/valid-attachments/);

      await cniGc({ ...conf(), 'cni.dev/valid-attachments': [{ containerID: 'pod-a', ifname: 'eth0' }] }, opts());
      assert.deepEqual(reservations(lab.dataDir), [ra.ips![0].address.split('/')[0]]);
      const names = (await nodeLinks(lab)).map((l) => l.ifname);
      assert.ok(names.includes(hostVethName('pod-a', 'eth0')));
      assert.ok(!names.includes(hostVethName('pod-b', 'eth0')), "the stale attachment's veth is deleted");
      await cniCheck(withPrev(conf(), ra), rt(a, 'pod-a'), opts());
      assert.ok(await ping(a, '10.244.1.1'));
    });

    it('VERSION lists 0.4.0, 1.0.0 and 1.1.0 and answers in the version asked', async () => {
      assert.deepEqual(cniVersion(v), { cniVersion: v, supportedVersions: ['0.4.0', '1.0.0', '1.1.0'] });
      assert.deepEqual(await k8tsBridgePlugin().version(v), { cniVersion: v, supportedVersions: ['0.4.0', '1.0.0', '1.1.0'] });
    });

    it('runs many ADDs and DELs at once without losing or sharing an address', async () => {
      const pods = await Promise.all(Array.from({ length: 8 }, () => lab.pod()));
      const results = await Promise.all(pods.map((ns, i) => cniAdd(conf(), rt(ns, `pod-${i}`), opts())));
      const ips = results.map((r) => r.ips![0].address);
      assert.equal(new Set(ips).size, 8);
      assert.ok(await ping(pods[0], ips[7].split('/')[0]));
      await Promise.all(pods.map((ns, i) => cniDel(withPrev(conf(), results[i]), rt(ns, `pod-${i}`), opts())));
      assert.deepEqual(reservations(lab.dataDir), []);
    });
  });
}

describe('k8ts-bridge leaves the host alone', { skip: SKIP_NOT_ROOT }, () => {
  it('no test namespace or link of ours is left in the host namespace', async () => {
    const { stdout } = await run(['ip', '-j', 'link', 'show']);
    const links = JSON.parse(stdout) as IpLink[];
    assert.ok(!links.some((l) => l.ifname === 'cbr0' || l.ifalias?.startsWith('k8ts/')), 'a k8ts-bridge link is in the host namespace');
  });
});
