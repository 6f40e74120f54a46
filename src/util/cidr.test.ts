// IPv4 and CIDR arithmetic the plan relies on.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { contains, formatCidr, formatIPv4, last, overlaps, parseCidr, parseIPv4, parseInterfaceCidr } from './cidr.js';

test('addresses round-trip and stay unsigned', () => {
  for (const s of ['0.0.0.0', '10.244.1.1', '172.30.0.255', '255.255.255.255']) assert.equal(formatIPv4(parseIPv4(s)), s);
  assert.equal(parseIPv4('255.255.255.255'), 0xffffffff);
  for (const bad of ['1.2.3', '1.2.3.256', 'a.b.c.d', '1.2.3.4.5', '']) assert.throws(() => parseIPv4(bad), TypeError);
});

test('CIDRs parse strictly, interface addresses give their subnet', () => {
  assert.deepEqual(parseCidr('172.30.0.0/24'), { base: parseIPv4('172.30.0.0'), prefix: 24 });
  assert.equal(formatCidr(parseCidr('0.0.0.0/0')), '0.0.0.0/0');
  assert.equal(formatCidr(parseCidr('192.0.2.2')), '192.0.2.2/32');
  assert.throws(() => parseCidr('172.30.0.1/24'), /host bits set/);
  assert.throws(() => parseCidr('10.0.0.0/33'), TypeError);
  assert.equal(formatCidr(parseInterfaceCidr('192.0.2.2/24')), '192.0.2.0/24');
  assert.equal(formatIPv4(last(parseCidr('172.30.1.0/24'))), '172.30.1.255');
});

test('overlap and containment', () => {
  const a = parseCidr('10.244.0.0/16');
  assert.ok(overlaps(a, parseCidr('10.244.3.0/24')));
  assert.ok(overlaps(parseCidr('10.0.0.0/8'), a));
  assert.ok(!overlaps(a, parseCidr('10.245.0.0/16')));
  assert.ok(overlaps(parseCidr('0.0.0.0/0'), a));
  assert.ok(contains(a, parseIPv4('10.244.255.255')));
  assert.ok(!contains(a, parseIPv4('10.245.0.0')));
});
