import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { newClusterId, storageFormatArgs } from './embedded-kafka.js';

/** A UUID string whose first byte is `first` (0xf8..0xfb encode to a leading `-`). */
const uuidStartingWith = (first: number) =>
  Buffer.concat([Buffer.from([first]), randomBytes(15)]).toString('hex');

test('a cluster id never starts with "-", even when the random UUID would encode to one', () => {
  const draws = [uuidStartingWith(0xf8), uuidStartingWith(0xfb), uuidStartingWith(0x10)];
  const id = newClusterId(() => draws.shift()!);
  assert.ok(!id.startsWith('-'), id);
  assert.equal(draws.length, 0, 'the ids encoding to a leading "-" were drawn again');
  assert.equal(Buffer.from(id, 'base64url')[0], 0x10);
});

test('cluster ids are 22-character base64url encodings of 16 bytes, none starting with "-"', () => {
  const seen = new Set<string>();
  for (let i = 0; i < 20_000; i++) {
    const id = newClusterId();
    assert.match(id, /^[A-Za-z0-9_][A-Za-z0-9_-]{21}$/);
    assert.equal(Buffer.from(id, 'base64url').length, 16);
    seen.add(id);
  }
  assert.equal(seen.size, 20_000, 'ids are unique');
});

test('the all-zero id, which Kafka reserves, is never returned', () => {
  const draws = ['00000000-0000-0000-0000-000000000000', uuidStartingWith(0x01)];
  assert.notEqual(
    newClusterId(() => draws.shift()!),
    'AAAAAAAAAAAAAAAAAAAAAA',
  );
});

test('kafka-storage format gets the id as --cluster-id=<id>, so no id reads as an option', () => {
  const args = storageFormatArgs('-AbCdEfGhIjKlMnOpQrStUv', '/tmp/server.properties');
  assert.deepEqual(args, [
    'format',
    '--cluster-id=-AbCdEfGhIjKlMnOpQrStUv',
    '-c',
    '/tmp/server.properties',
  ]);
});
