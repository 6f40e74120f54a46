// The standalone executable (bin/k8ts-cni): the env + stdin protocol, JSON on stdout and the exit status.
// These cases touch no network namespace, so they run without root.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { K8TS_CNI_BIN } from './testing.js';
import { runCni } from './main.js';

const dataDir = mkdtempSync(join(tmpdir(), 'k8tscni-main-'));
after(() => rmSync(dataDir, { recursive: true, force: true }));

const conf = (v = '1.1.0', extra: Record<string, unknown> = {}) =>
  JSON.stringify({
    cniVersion: v,
    name: 'k8ts',
    type: 'k8ts-bridge',
    ipam: { type: 'k8ts-ipam', subnet: '10.244.1.0/24', dataDir },
    ...extra,
  });

function exe(env: Record<string, string>, stdin: string): { status: number | null; out: Record<string, unknown> | undefined; stdout: string } {
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('CNI_')));
  const r = spawnSync(K8TS_CNI_BIN, [], { input: stdin, env: { ...clean, ...env }, encoding: 'utf8' });
  return { status: r.status, stdout: r.stdout, out: r.stdout.trim() ? (JSON.parse(r.stdout) as Record<string, unknown>) : undefined };
}

describe('k8ts-cni executable', () => {
  it('VERSION prints the supported versions, with or without a config on stdin', () => {
    const r = exe({ CNI_COMMAND: 'VERSION' }, '');
    assert.equal(r.status, 0);
    assert.deepEqual(r.out, { cniVersion: '1.1.0', supportedVersions: ['0.4.0', '1.0.0', '1.1.0'] });
    assert.deepEqual(exe({ CNI_COMMAND: 'VERSION' }, '{"cniVersion":"0.4.0"}').out, { cniVersion: '0.4.0', supportedVersions: ['0.4.0', '1.0.0', '1.1.0'] });
  });

  it('a missing or unknown CNI_COMMAND is code 4 naming it, exit status 1', () => {
    for (const env of [{}, { CNI_COMMAND: 'FROB' }] as Record<string, string>[]) {
      const r = exe(env, conf());
      assert.equal(r.status, 1);
      assert.equal(r.out?.code, 4);
      assert.match(String(r.out?.msg), /CNI_COMMAND/);
    }
  });

  it('a config that is not JSON is code 6; an unsupported version is code 1; a bad field is code 7', () => {
    const six = exe({ CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'a', CNI_NETNS: '/x', CNI_IFNAME: 'eth0' }, '{not json');
    assert.equal(six.status, 1);
    assert.equal(six.out?.code, 6);
    const one = exe({ CNI_COMMAND: 'DEL', CNI_CONTAINERID: 'a', CNI_IFNAME: 'eth0' }, conf('0.3.1'));
    assert.equal(one.out?.code, 1);
    assert.match(String(one.out?.details), /0\.4\.0, 1\.0\.0, 1\.1\.0/);
    const seven = exe({ CNI_COMMAND: 'DEL', CNI_CONTAINERID: 'a', CNI_IFNAME: 'eth0' }, conf('1.0.0', { mtu: 'big' }));
    assert.equal(seven.status, 1);
    assert.equal(seven.out?.code, 7);
    assert.equal(seven.out?.cniVersion, '1.0.0', "errors answer in the configuration's version");
    assert.match(String(seven.out?.msg), /mtu:/);
  });

  it('ADD without CNI_CONTAINERID, CNI_NETNS and CNI_IFNAME is code 4 naming all three', () => {
    const r = exe({ CNI_COMMAND: 'ADD' }, conf());
    assert.equal(r.status, 1);
    assert.equal(r.out?.code, 4);
    assert.match(String(r.out?.msg), /CNI_CONTAINERID, CNI_IFNAME, CNI_NETNS/);
  });

  it('DEL of an unknown container, STATUS and GC succeed silently', () => {
    for (const [env, stdin] of [
      [{ CNI_COMMAND: 'DEL', CNI_CONTAINERID: 'never-added', CNI_IFNAME: 'eth0', CNI_NETNS: '/run/netns/k8tscni-gone' }, conf()],
      [{ CNI_COMMAND: 'STATUS' }, conf()],
      [{ CNI_COMMAND: 'GC', CNI_PATH: '/usr/lib/cni' }, conf('1.1.0', { 'cni.dev/valid-attachments': [] })],
    ] as const) {
      const r = exe({ ...env }, stdin);
      assert.equal(r.status, 0, r.stdout);
      assert.equal(r.stdout, '');
    }
  });

  it('runCni reports an unreadable stdin as code 5', async () => {
    const r = await runCni({ CNI_COMMAND: 'ADD' }, () => {
      throw new Error('EIO');
    });
    assert.equal(r.exitCode, 1);
    assert.equal((JSON.parse(r.stdout) as { code: number }).code, 5);
  });
});
