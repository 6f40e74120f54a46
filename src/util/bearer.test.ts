import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bearerToken } from './bearer.js';

test('bearer tokens: the scheme in any case, the second field, nothing for other schemes or empty tokens', () => {
  assert.equal(bearerToken('Bearer abc.def'), 'abc.def');
  assert.equal(bearerToken('bearer abc'), 'abc', 'client-python sends the scheme in lower case');
  assert.equal(bearerToken('BEARER abc'), 'abc');
  assert.equal(bearerToken('  Bearer abc  '), 'abc');
  assert.equal(bearerToken('Bearer abc extra'), 'abc', 'a third field is ignored, as upstream');
  assert.equal(bearerToken('Bearer  abc'), undefined, 'two spaces leave an empty token field, as upstream');
  assert.equal(bearerToken('Bearer '), undefined);
  assert.equal(bearerToken('Bearer'), undefined);
  assert.equal(bearerToken('Basic YWxpY2U6cw=='), undefined);
  assert.equal(bearerToken('Bearerabc'), undefined);
  assert.equal(bearerToken(undefined), undefined);
  assert.equal(bearerToken(''), undefined);
});
