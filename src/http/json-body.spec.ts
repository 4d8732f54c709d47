import assert from 'node:assert/strict';
import { test } from 'node:test';
import { jsonDepth } from './json-body.js';
import { allowHeader } from './method-not-allowed.js';

test('jsonDepth counts object and array nesting, not brackets in strings', () => {
  assert.equal(jsonDepth('1'), 0);
  assert.equal(jsonDepth('{}'), 1);
  assert.equal(jsonDepth('{"a":[1,{"b":[]}]}'), 4);
  assert.equal(jsonDepth('{"a":"[[[{{{"}'), 1);
  assert.equal(jsonDepth('{"a\\"[[":"\\\\","b":[[]]}'), 3, 'escaped quotes and backslashes');
  assert.equal(jsonDepth('{"a":1},{"b":2}'), 1, 'siblings do not add up');
  assert.equal(jsonDepth('['.repeat(100_000), 32), 33, 'stops counting past the limit');
});

test('allowHeader adds HEAD to GET and always OPTIONS, in a stable order', () => {
  assert.equal(allowHeader(['DELETE', 'GET', 'PATCH']), 'GET, HEAD, PATCH, DELETE, OPTIONS');
  assert.equal(allowHeader(['POST']), 'POST, OPTIONS');
});
