import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseDateTime } from './date-time.js';

test('parseDateTime: RFC 3339 date-times, with any offset and fraction', () => {
  assert.equal(parseDateTime('2026-03-01T14:00:00Z'), Date.parse('2026-03-01T14:00:00Z'));
  assert.equal(parseDateTime('2026-03-01t14:00:00z'), Date.parse('2026-03-01T14:00:00Z'));
  assert.equal(parseDateTime('2026-03-01T15:00:00.5+01:00'), Date.parse('2026-03-01T14:00:00.5Z'));
  assert.equal(
    parseDateTime('2026-03-01T13:30:00.123456-00:30'),
    Date.parse('2026-03-01T14:00:00.123Z'),
  );
  assert.equal(parseDateTime('2024-02-29T00:00:00Z'), Date.parse('2024-02-29T00:00:00Z'));
  assert.equal(parseDateTime('2016-12-31T23:59:60Z'), Date.parse('2017-01-01T00:00:00Z'));
});

test('parseDateTime: years before 100 are those years, not 19xx', () => {
  const t = parseDateTime('0015-01-01T02:00:01Z')!;
  assert.equal(new Date(t).getUTCFullYear(), 15);
  assert.equal(new Date(t).toISOString(), '0015-01-01T02:00:01.000Z');
  assert.equal(new Date(parseDateTime('0000-01-01T00:00:00Z')!).getUTCFullYear(), 0);
});

test('parseDateTime: anything else is not a date-time', () => {
  for (const text of [
    'yesterday',
    '2026-03-01',
    '2026-03-01T14:00:00',
    '2026-03-01T14:00Z',
    '2026-03-01 14:00:00Z',
    '2026-02-29T00:00:00Z',
    '2026-04-31T00:00:00Z',
    '2026-13-01T00:00:00Z',
    '2026-00-01T00:00:00Z',
    '2026-03-01T24:00:00Z',
    '2026-03-01T14:60:00Z',
    '2026-03-01T14:00:61Z',
    '2026-03-01T14:00:00+24:00',
    '2026-03-01T14:00:00.Z',
    '+02026-03-01T14:00:00Z',
    ' 2026-03-01T14:00:00Z',
  ]) {
    assert.equal(parseDateTime(text), undefined, text);
  }
});
