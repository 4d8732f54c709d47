import assert from 'node:assert/strict';
import { test } from 'node:test';
import { thrownProblem } from '../../test/support/problems.js';
import { checkIfMatch, etagOf, ifMatchMatches } from './etag.js';

test('etagOf: a strong tag that follows the content', () => {
  const a = etagOf({ id: 'f', deviceCount: 1 });
  assert.match(a, /^"[\w-]{22}"$/);
  assert.equal(etagOf({ id: 'f', deviceCount: 1 }), a);
  assert.notEqual(etagOf({ id: 'f', deviceCount: 2 }), a);
});

test('If-Match: *, one of a list, never a weak tag', () => {
  assert.equal(ifMatchMatches('*', '"a"'), true);
  assert.equal(ifMatchMatches('"b", "a"', '"a"'), true);
  assert.equal(ifMatchMatches('"b"', '"a"'), false);
  assert.equal(ifMatchMatches('W/"a"', '"a"'), false);
});

test('checkIfMatch: 428 only when required and missing, 412 on another version', () => {
  checkIfMatch(undefined, '"a"', false, 'fleet x');
  checkIfMatch('"a"', '"a"', true, 'fleet x');
  const missing = thrownProblem(() => checkIfMatch(undefined, '"a"', true, 'fleet x'));
  assert.equal(missing.status, 428);
  assert.match(missing.body.detail, /^changing fleet x needs an If-Match header/);
  const stale = thrownProblem(() => checkIfMatch('"b"', '"a"', false, 'fleet x'));
  assert.equal(stale.status, 412);
  assert.equal(stale.body.etag, '"a"');
});
