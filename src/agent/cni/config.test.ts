// Validation of the k8ts-bridge network configuration: defaults, spec code 1 for versions, code 7 naming the field.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseNetConf } from './config.js';
import { CniError, SUPPORTED_VERSIONS } from './types.js';
import { formatIp } from './ipv4.js';

const base = (v: string) => ({
  cniVersion: v,
  name: 'k8ts',
  type: 'k8ts-bridge',
  ipam: { type: 'k8ts-ipam', subnet: '10.244.1.0/24', dataDir: '/var/lib/k8ts/cni' },
});

function codeOf(raw: unknown): { code: number; msg: string } {
  try {
    parseNetConf(raw);
  } catch (e) {
    assert.ok(e instanceof CniError, `expected a CniError, got ${e}`);
    return { code: e.code, msg: e.message };
  }
  assert.fail('configuration was accepted');
}

for (const v of SUPPORTED_VERSIONS) {
  describe(`network config (cniVersion ${v})`, () => {
    it('applies the defaults', () => {
      const c = parseNetConf(base(v));
      assert.equal(c.cniVersion, v);
      assert.equal(c.bridge, 'cbr0');
      assert.equal(c.isGateway, true);
      assert.equal(c.hairpinMode, true);
      assert.equal(c.mtu, undefined);
      assert.equal(formatIp(c.ipam.gateway), '10.244.1.1');
      assert.equal(formatIp(c.ipam.rangeStart), '10.244.1.1');
      assert.equal(formatIp(c.ipam.rangeEnd), '10.244.1.254');
    });

    it('takes explicit fields and passes ipMasq, dns, prevResult and valid-attachments through', () => {
      const c = parseNetConf({
        ...base(v),
        bridge: 'br-pods',
        isGateway: false,
        hairpinMode: false,
        mtu: 1450,
        ipMasq: true,
        ipam: { type: 'k8ts-ipam', subnet: '10.9.0.0/16', gateway: '10.9.0.254', rangeStart: '10.9.1.0', rangeEnd: '10.9.1.255', dataDir: '/d' },
        dns: { nameservers: ['10.96.0.10'], search: ['svc.cluster.local'] },
        prevResult: { cniVersion: v, ips: [{ address: '10.9.1.3/16' }] },
        'cni.dev/valid-attachments': [{ containerID: 'a', ifname: 'eth0' }],
      });
      assert.equal(c.bridge, 'br-pods');
      assert.equal(c.isGateway, false);
      assert.equal(c.hairpinMode, false);
      assert.equal(c.mtu, 1450);
      assert.equal(formatIp(c.ipam.gateway), '10.9.0.254');
      assert.equal(formatIp(c.ipam.rangeStart), '10.9.1.0');
      assert.deepEqual(c.dns?.nameservers, ['10.96.0.10']);
      assert.equal(c.prevResult?.ips?.[0].address, '10.9.1.3/16');
      assert.deepEqual(c.validAttachments, [{ containerID: 'a', ifname: 'eth0' }]);
    });

    const bad: Array<[string, (c: Record<string, unknown> & { ipam: Record<string, unknown> }) => unknown]> = [
      ['name', (c) => ({ ...c, name: '-bad' })],
      ['name', (c) => ({ ...c, name: undefined })],
      ['type', (c) => ({ ...c, type: 'bridge' })],
      ['bridge', (c) => ({ ...c, bridge: 'a-name-longer-than-15' })],
      ['bridge', (c) => ({ ...c, bridge: 'br:0' })],
      ['isGateway', (c) => ({ ...c, isGateway: 'yes' })],
      ['hairpinMode', (c) => ({ ...c, hairpinMode: 1 })],
      ['mtu', (c) => ({ ...c, mtu: 20 })],
      ['mtu', (c) => ({ ...c, mtu: 1500.5 })],
      ['ipMasq', (c) => ({ ...c, ipMasq: 'true' })],
      ['ipam', (c) => ({ ...c, ipam: undefined })],
      ['ipam', (c) => ({ ...c, ipam: [] })],
      ['ipam.type', (c) => ({ ...c, ipam: { ...c.ipam, type: 'host-local' } })],
      ['ipam.subnet', (c) => ({ ...c, ipam: { ...c.ipam, subnet: '10.244.1.7/24' } })],
      ['ipam.subnet', (c) => ({ ...c, ipam: { ...c.ipam, subnet: 'fd00::/64' } })],
      ['ipam.subnet', (c) => ({ ...c, ipam: { ...c.ipam, subnet: '10.244.1.0/31' } })],
      ['ipam.subnet', (c) => ({ ...c, ipam: { ...c.ipam, subnet: undefined } })],
      ['ipam.gateway', (c) => ({ ...c, ipam: { ...c.ipam, gateway: '10.245.0.1' } })],
      ['ipam.gateway', (c) => ({ ...c, ipam: { ...c.ipam, gateway: '10.244.1.255' } })],
      ['ipam.rangeStart', (c) => ({ ...c, ipam: { ...c.ipam, rangeStart: '10.244.1.300' } })],
      ['ipam.rangeEnd', (c) => ({ ...c, ipam: { ...c.ipam, rangeEnd: '10.244.2.1' } })],
      ['ipam.rangeStart', (c) => ({ ...c, ipam: { ...c.ipam, rangeStart: '10.244.1.9', rangeEnd: '10.244.1.8' } })],
      ['ipam.rangeStart', (c) => ({ ...c, ipam: { ...c.ipam, rangeStart: '10.244.1.1', rangeEnd: '10.244.1.1' } })],
      ['ipam.dataDir', (c) => ({ ...c, ipam: { ...c.ipam, dataDir: 'relative/dir' } })],
      ['ipam.dataDir', (c) => ({ ...c, ipam: { ...c.ipam, dataDir: undefined } })],
      ['dns.nameservers', (c) => ({ ...c, dns: { nameservers: '10.96.0.10' } })],
      ['prevResult', (c) => ({ ...c, prevResult: 'x' })],
      ['cni.dev/valid-attachments[0]', (c) => ({ ...c, 'cni.dev/valid-attachments': [{ containerID: 1 }] })],
    ];
    for (const [field, mutate] of bad) {
      it(`rejects a bad ${field} with code 7 naming it`, () => {
        const { code, msg } = codeOf(mutate(base(v) as Record<string, unknown> & { ipam: Record<string, unknown> }));
        assert.equal(code, 7, msg);
        assert.match(msg, new RegExp(`: ${field.replace(/[.[\]/]/g, '\\$&')}: `));
      });
    }

    it('rejects a configuration that is not an object with code 7', () => {
      assert.equal(codeOf([]).code, 7);
      assert.equal(codeOf('x').code, 7);
    });
  });
}

describe('network config versions', () => {
  for (const v of ['0.3.1', '0.2.0', '1.2.0', 'one']) {
    it(`rejects cniVersion ${v} with code 1`, () => {
      const { code, msg } = codeOf(base(v));
      assert.equal(code, 1);
      assert.match(msg, /0\.4\.0, 1\.0\.0, 1\.1\.0/);
    });
  }
  it('requires cniVersion (code 7)', () => {
    const { code, msg } = codeOf({ ...base('1.0.0'), cniVersion: undefined });
    assert.equal(code, 7);
    assert.match(msg, /cniVersion: required/);
  });
});
