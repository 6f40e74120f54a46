import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  errorText,
  goLabelSelector,
  goQuote,
  goStringMap,
  invalid,
  isConfigMapKey,
  isDNS1035Label,
  isDNS1123Label,
  isDNS1123Subdomain,
  isEnvVarName,
  isQualifiedName,
  isRelaxedEnvVarName,
  isValidLabelValue,
  isValidPercent,
  isValidPortName,
  isValidPortNum,
  notSupported,
  PROTOCOLS,
  required,
  semanticEqual,
  tooLong,
  tooMany,
  validateAnnotations,
  validateCIDR,
  validateFullyQualifiedDomainName,
  validateIP,
  validateLabels,
  validateLabelSelector,
  validateNonSpecialIP,
  validatePortNumOrName,
  validateProtocol,
  validateQuantity,
  forbidden,
  duplicate,
} from './validation.js';

const LABEL_MSG =
  "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
const SUBDOMAIN_MSG =
  "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
const DNS1035_MSG =
  "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')";
const QNAME_MSG =
  "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";

test('DNS-1123 label: valid names and the exact messages for invalid ones', () => {
  const cases: [string, string[]][] = [
    ['my-name', []],
    ['123-abc', []],
    ['a'.repeat(63), []],
    ['a'.repeat(64), ['must be no more than 63 characters']],
    ['Foo_1', [LABEL_MSG]],
    ['-a', [LABEL_MSG]],
    ['a-', [LABEL_MSG]],
    ['', [LABEL_MSG]],
    ['a.b', ['must not contain dots']],
  ];
  for (const [v, want] of cases) assert.deepEqual(isDNS1123Label(v), want, v);
});

test('DNS-1123 subdomain: length 253 and the regex message', () => {
  const label = 'a'.repeat(63);
  const name253 = [label, label, label, 'a'.repeat(61)].join('.');
  assert.equal(name253.length, 253);
  assert.deepEqual(isDNS1123Subdomain(name253), []);
  assert.deepEqual(isDNS1123Subdomain(name253 + 'a'), ['must be no more than 253 characters']);
  assert.deepEqual(isDNS1123Subdomain('example.com'), []);
  assert.deepEqual(isDNS1123Subdomain('Example.com'), [SUBDOMAIN_MSG]);
  assert.deepEqual(isDNS1123Subdomain('a..b'), [SUBDOMAIN_MSG]);
});

test('DNS-1035 label: must start with a letter', () => {
  assert.deepEqual(isDNS1035Label('web'), []);
  assert.deepEqual(isDNS1035Label('1web'), [DNS1035_MSG]);
  assert.deepEqual(isDNS1035Label('a'.repeat(64)), ['must be no more than 63 characters']);
});

test('qualified names: prefix and name parts', () => {
  assert.deepEqual(isQualifiedName('app'), []);
  assert.deepEqual(isQualifiedName('example.com/My_Name.1'), []);
  assert.deepEqual(isQualifiedName('-bad'), [QNAME_MSG]);
  assert.deepEqual(isQualifiedName('/x'), ['prefix part must be non-empty']);
  assert.deepEqual(isQualifiedName('x/'), ['name part must be non-empty', QNAME_MSG]);
  assert.deepEqual(isQualifiedName('Bad_Prefix/x'), ['prefix part ' + SUBDOMAIN_MSG]);
  assert.deepEqual(isQualifiedName('a'.repeat(64)), ['name part must be no more than 63 characters']);
  assert.equal(isQualifiedName('a/b/c').length, 1);
  assert.match(
    isQualifiedName('a/b/c')[0],
    /^a qualified name must consist of .* with an optional DNS subdomain prefix and '\/' \(e\.g\. 'example\.com\/MyName'\)$/,
  );
});

test('label values may be empty but not malformed or long', () => {
  assert.deepEqual(isValidLabelValue(''), []);
  assert.deepEqual(isValidLabelValue('v1.2_3-x'), []);
  assert.equal(isValidLabelValue('bad value').length, 1);
  assert.match(isValidLabelValue('-x')[0], /^a valid label must be an empty string or consist of alphanumeric characters/);
  assert.deepEqual(isValidLabelValue('a'.repeat(64)), ['must be no more than 63 characters']);
});

test('ports: numbers 1-65535 and IANA service names', () => {
  assert.deepEqual(isValidPortNum(1), []);
  assert.deepEqual(isValidPortNum(65535), []);
  assert.deepEqual(isValidPortNum(0), ['must be between 1 and 65535, inclusive']);
  assert.deepEqual(isValidPortNum(65536), ['must be between 1 and 65535, inclusive']);
  assert.deepEqual(isValidPortName('http'), []);
  assert.deepEqual(isValidPortName('http-alt2'), []);
  assert.deepEqual(isValidPortName('1234'), ['must contain at least one letter (a-z)']);
  assert.deepEqual(isValidPortName('a--b'), ['must not contain consecutive hyphens']);
  assert.deepEqual(isValidPortName('-ab'), ['must not begin or end with a hyphen']);
  assert.deepEqual(isValidPortName('HTTP'), [
    'must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)',
    'must contain at least one letter (a-z)',
  ]);
  assert.deepEqual(isValidPortName('abcdefghijklmnop'), ['must be no more than 15 characters']);
  assert.deepEqual(validatePortNumOrName('spec.ports[0].targetPort', 0).map(errorText), [
    'spec.ports[0].targetPort: Invalid value: 0: must be between 1 and 65535, inclusive',
  ]);
  assert.deepEqual(
    validatePortNumOrName('p', 'Web').map(errorText)[0],
    'p: Invalid value: "Web": must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)',
  );
});

test('protocols: required, and the sorted list of supported values', () => {
  assert.deepEqual([...PROTOCOLS], ['SCTP', 'TCP', 'UDP']);
  assert.deepEqual(validateProtocol('p', 'TCP'), []);
  assert.deepEqual(validateProtocol('p', '').map(errorText), ['p: Required value']);
  assert.deepEqual(validateProtocol('p', 'XX').map(errorText), ['p: Unsupported value: "XX": supported values: "SCTP", "TCP", "UDP"']);
});

test('IP addresses and CIDRs, including special ranges', () => {
  for (const ok of ['10.0.0.1', '010.000.000.001', '::1', '2001:db8::ffff', '::ffff:1.2.3.4', '1:2:3:4:5:6:7:8']) {
    assert.deepEqual(validateIP('ip', ok), [], ok);
  }
  for (const bad of ['', '1.2.3', '256.0.0.1', '1.2.3.4.5', 'a::b::c', 'fe80::1%eth0', 'x', '1:2:3:4:5:6:7:8:9']) {
    assert.deepEqual(
      validateIP('ip', bad).map(errorText),
      [`ip: Invalid value: ${JSON.stringify(bad)}: must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)`],
      bad,
    );
  }
  assert.deepEqual(validateCIDR('c', '10.0.0.0/8'), []);
  assert.deepEqual(validateCIDR('c', '10.0.0.0/33').map(errorText), [
    'c: Invalid value: "10.0.0.0/33": must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)',
  ]);
  assert.deepEqual(validateNonSpecialIP('ip', '10.1.2.3'), []);
  assert.deepEqual(
    validateNonSpecialIP('ip', '0.0.0.0').map((e) => e.message),
    ['Invalid value: "0.0.0.0": may not be unspecified (0.0.0.0)'],
  );
  assert.deepEqual(
    validateNonSpecialIP('ip', '127.0.0.2').map((e) => e.message),
    ['Invalid value: "127.0.0.2": may not be in the loopback range (127.0.0.0/8, ::1/128)'],
  );
  assert.deepEqual(
    validateNonSpecialIP('ip', 'fe80::1').map((e) => e.message),
    ['Invalid value: "fe80::1": may not be in the link-local range (169.254.0.0/16, fe80::/10)'],
  );
  assert.deepEqual(
    validateNonSpecialIP('ip', '224.0.0.5').map((e) => e.message),
    ['Invalid value: "224.0.0.5": may not be in the link-local multicast range (224.0.0.0/24, ff02::/10)'],
  );
});

test('environment variable names: strict and relaxed (the 1.32 default) rules', () => {
  assert.deepEqual(isEnvVarName('MY_ENV.NAME'), []);
  assert.deepEqual(isEnvVarName('1X'), [
    "a valid environment variable name must consist of alphabetic characters, digits, '_', '-', or '.', and must not start with a digit (e.g. 'my.env-name',  or 'MY_ENV.NAME',  or 'MyEnvName1', regex used for validation is '[-._a-zA-Z][-._a-zA-Z0-9]*')",
  ]);
  assert.deepEqual(isEnvVarName('..x'), ["must not start with '..'"]);
  assert.deepEqual(isRelaxedEnvVarName('1X with space'), []);
  assert.deepEqual(isRelaxedEnvVarName('A=B'), ["a valid environment variable name must consist only of printable ASCII characters other than '='"]);
  assert.deepEqual(isRelaxedEnvVarName('é'), ["a valid environment variable name must consist only of printable ASCII characters other than '='"]);
});

test('config keys and percents', () => {
  assert.deepEqual(isConfigMapKey('key.name'), []);
  assert.deepEqual(isConfigMapKey('a/b'), [
    "a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')",
  ]);
  assert.deepEqual(isConfigMapKey('.'), ["must not be '.'"]);
  assert.deepEqual(isConfigMapKey('..'), ["must not be '..'"]);
  assert.deepEqual(isValidPercent('25%'), []);
  assert.equal(isValidPercent('25').length, 1);
});

test('field error bodies as Kubernetes prints them', () => {
  assert.equal(required('spec.containers').message, 'Required value');
  assert.equal(required('metadata.name', 'name or generateName is required').message, 'Required value: name or generateName is required');
  assert.equal(invalid('f', 'Foo_1', 'bad').message, 'Invalid value: "Foo_1": bad');
  assert.equal(invalid('f', 70000, 'bad').message, 'Invalid value: 70000: bad');
  assert.equal(invalid('f', null, 'bad').message, 'Invalid value: null: bad');
  assert.equal(notSupported('f', 'XX', ['A', 'B']).message, 'Unsupported value: "XX": supported values: "A", "B"');
  assert.equal(duplicate('f', 'x').message, 'Duplicate value: "x"');
  assert.equal(forbidden('f', 'not allowed on this type').message, 'Forbidden: not allowed on this type');
  assert.equal(tooLong('f', 63).message, 'Too long: may not be more than 63 bytes');
  assert.equal(tooMany('f', 101, 100).message, 'Too many: 101: must have at most 100 items');
  assert.equal(required('a').type, 'FieldValueRequired');
  assert.equal(tooLong('a', 1).type, 'FieldValueTooLong');
});

test('Go rendering of strings, maps and selectors', () => {
  assert.equal(goQuote('a"b\\c\n\u0001é\u00a0'), '"a\\"b\\\\c\\n\\x01é\\u00a0"');
  assert.equal(goStringMap({ b: '2', a: '1' }).text, 'map[string]string{"a":"1", "b":"2"}');
  assert.equal(goStringMap(undefined).text, 'map[string]string(nil)');
  assert.equal(goLabelSelector({}).text, 'v1.LabelSelector{MatchLabels:map[string]string(nil), MatchExpressions:[]v1.LabelSelectorRequirement(nil)}');
  assert.equal(
    goLabelSelector({ matchLabels: { app: 'x' }, matchExpressions: [{ key: 'k', operator: 'In', values: ['a'] }] }).text,
    'v1.LabelSelector{MatchLabels:map[string]string{"app":"x"}, MatchExpressions:[]v1.LabelSelectorRequirement{v1.LabelSelectorRequirement{Key:"k", Operator:"In", Values:[]string{"a"}}}}',
  );
});

test('labels and annotations', () => {
  assert.deepEqual(validateLabels('metadata.labels', { app: 'web', 'example.com/tier': '' }), []);
  assert.deepEqual(validateLabels('metadata.labels', { 'bad key': 'x' }).map(errorText), [`metadata.labels: Invalid value: "bad key": ${QNAME_MSG}`]);
  assert.deepEqual(validateLabels('metadata.labels', { app: 'bad value' }).length, 1);
  assert.deepEqual(validateAnnotations('metadata.annotations', { 'Example.COM/Key': 'anything at all' }), []);
  assert.deepEqual(validateAnnotations('metadata.annotations', { big: 'x'.repeat(256 * 1024 - 3) }), []);
  assert.deepEqual(validateAnnotations('metadata.annotations', { big: 'x'.repeat(256 * 1024 - 2) }).map(errorText), [
    'metadata.annotations: Too long: may not be more than 262144 bytes',
  ]);
});

test('label selectors: operators and values', () => {
  assert.deepEqual(validateLabelSelector('s', { matchLabels: { a: 'b' }, matchExpressions: [{ key: 'k', operator: 'Exists' }] }), []);
  assert.deepEqual(validateLabelSelector('s', { matchExpressions: [{ key: 'k', operator: 'In' }] }).map(errorText), [
    "s.matchExpressions[0].values: Required value: must be specified when `operator` is 'In' or 'NotIn'",
  ]);
  assert.deepEqual(validateLabelSelector('s', { matchExpressions: [{ key: 'k', operator: 'Exists', values: ['x'] }] }).map(errorText), [
    "s.matchExpressions[0].values: Forbidden: may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
  ]);
  assert.deepEqual(validateLabelSelector('s', { matchExpressions: [{ key: 'k', operator: 'Has' }] }).map(errorText), [
    's.matchExpressions[0].operator: Invalid value: "Has": not a valid selector operator',
  ]);
});

test('quantities: valid, malformed, negative', () => {
  for (const q of ['1', '500m', '1.5Gi', '2e3', '0.1', 3]) assert.deepEqual(validateQuantity('q', q), [], String(q));
  assert.deepEqual(validateQuantity('q', '1mm').map(errorText), ['q: Invalid value: "1mm": unable to parse quantity\'s suffix']);
  assert.deepEqual(validateQuantity('q', '1x').map(errorText), [
    'q: Invalid value: "1x": quantities must match the regular expression \'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$\'',
  ]);
  assert.deepEqual(validateQuantity('q', 'abc').map(errorText), [
    'q: Invalid value: "abc": quantities must match the regular expression \'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$\'',
  ]);
  assert.deepEqual(validateQuantity('q', '-1').map(errorText), ['q: Invalid value: "-1": must be greater than or equal to 0']);
});

test('fully qualified domain names need two segments', () => {
  assert.deepEqual(validateFullyQualifiedDomainName('a', 'example.com.'), []);
  assert.deepEqual(validateFullyQualifiedDomainName('a', 'example').map(errorText), [
    'a: Invalid value: "example": should be a domain with at least two segments separated by dots',
  ]);
});

test('semantic equality treats absent and zero values alike', () => {
  assert.ok(semanticEqual({ a: [], b: {}, c: 0, d: '', e: false, f: null }, {}));
  assert.ok(semanticEqual({ x: { y: [] } }, { x: undefined }));
  assert.ok(!semanticEqual({ a: 1 }, { a: 2 }));
  assert.ok(!semanticEqual({ a: [1] }, { a: [] }));
});
