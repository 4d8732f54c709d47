import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DomainError } from './domain.error.js';
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

/** The DomainError `fn` throws. */
function thrown(fn: () => void): DomainError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof DomainError);
    return err;
  }
  assert.fail('expected a DomainError');
}

test('checkIfMatch: VERSION_REQUIRED only when required and missing, STALE_VERSION on another version', () => {
  checkIfMatch(undefined, '"a"', false, 'fleet x');
  checkIfMatch('"a"', '"a"', true, 'fleet x');
  const missing = thrown(() => checkIfMatch(undefined, '"a"', true, 'fleet x'));
  assert.equal(missing.code, 'VERSION_REQUIRED');
  assert.match(missing.message, /^changing fleet x needs an If-Match header/);
  const stale = thrown(() => checkIfMatch('"b"', '"a"', false, 'fleet x'));
  assert.equal(stale.code, 'STALE_VERSION');
  assert.deepEqual(stale.extra, { etag: '"a"' });
});
