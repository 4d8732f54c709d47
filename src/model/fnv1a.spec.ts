import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fnv1a32, fnv1a32Bytes, partitionFor } from './fnv1a.js';

test('FNV-1a 32-bit matches the reference test vectors', () => {
  // Vectors from the FNV reference (Noll): hash of the empty string is the offset basis.
  assert.equal(fnv1a32(''), 0x811c9dc5);
  assert.equal(fnv1a32('a'), 0xe40c292c);
  assert.equal(fnv1a32('b'), 0xe70c2de5);
  assert.equal(fnv1a32('foobar'), 0xbf9cf968);
});

test('FNV-1a hashes UTF-8 bytes and returns an unsigned number', () => {
  const text = 'Ünïcödé-température';
  assert.equal(fnv1a32(text), 0x6099eea8);
  assert.equal(fnv1a32Bytes(Buffer.from(text, 'utf8')), fnv1a32(text));
  assert.ok(fnv1a32('plant-a.b1.f1.r1.d1') > 0x7fffffff, 'a hash above 2^31 stays positive');
  assert.equal(fnv1a32('plant-a.b1.f1.r1.d1'), 0xd1f2296e);
});

test('the partition is the unsigned hash modulo the partition count', () => {
  assert.equal(partitionFor(0xd1f2296e, 6), 2);
  assert.equal(partitionFor(0xbf9cf968, 6), 4);
  assert.equal(partitionFor(0x811c9dc5, 1), 0);
  for (let p = 1; p <= 64; p++) {
    const part = partitionFor(fnv1a32(`device-${p}`), p);
    assert.ok(part >= 0 && part < p);
  }
});
