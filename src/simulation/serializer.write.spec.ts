import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Fleet } from '../model/fleet.js';
import { deriveLayout } from '../model/layout.js';
import { SENSOR_NAMES } from '../model/sensors/sensor.model.js';
import {
  type OutgoingRecord,
  recordValue,
  releaseValue,
  VALUE_SLAB_BYTES,
  ValueSlabs,
} from '../producer/outgoing.record.js';
import { confluentPrefix } from './confluent.framing.js';
import { serializerFor } from './reading.pipeline.js';
import { generateReading } from './reading.generator.js';

const PARAMS = { dataVariation: 1, trendEnabled: true, trendStrength: 1, anomalyRate: 0.2 };

for (const [format, framing] of [
  ['json', undefined],
  ['protobuf', undefined],
  ['json', confluentPrefix(7, 'json')],
  ['protobuf', confluentPrefix(7, 'protobuf')],
] as const) {
  void test(`${format}${framing ? ', framed' : ''}: write puts in the slabs the bytes serialize returns, and later values leave earlier ones as they were`, () => {
    const fleet = new Fleet({
      id: 'plant-a',
      name: 'Plant A',
      deviceCount: 50,
      intervalMs: 1000,
      sensors: [...SENSOR_NAMES],
      layout: deriveLayout(50),
      seed: 3,
    });
    // Two serializers of the same kind, so each sees the same sequence of calls.
    const written = serializerFor(format, framing);
    const returned = serializerFor(format, framing);
    const slabs = new ValueSlabs();
    const values: Array<{ slab: Buffer; start: number; end: number; expected: Buffer }> = [];
    let slabsUsed = 1;
    for (let tick = 0; tick < 20; tick++) {
      const ts = Date.UTC(2026, 11, 2) + tick * 1000 + 7;
      for (const d of fleet.devices) {
        if (!generateReading(fleet, d, ts, PARAMS)) continue;
        const before = slabs.slab;
        written.write(fleet, d, ts, slabs);
        if (slabs.slab !== before) slabsUsed++;
        const expected = returned.serialize(fleet, d, ts);
        const got = slabs.slab.subarray(slabs.start, slabs.end);
        assert.deepEqual(got, expected, `device ${d.index} at tick ${tick}`);
        values.push({ slab: slabs.slab, start: slabs.start, end: slabs.end, expected });
      }
    }
    assert.ok(slabsUsed >= 2, `the values filled more than one slab (${slabsUsed})`);
    for (const [i, v] of values.entries()) {
      assert.deepEqual(v.slab.subarray(v.start, v.end), v.expected, `value ${i} kept its bytes`);
    }
  });
}

void test('ValueSlabs: values go one after the other; a value that does not fit starts a slab; a larger one gets its own', () => {
  const slabs = new ValueSlabs();
  const first = slabs.slab;
  slabs.put(Buffer.from('abc'), 0, 3);
  assert.equal(slabs.slab, first);
  assert.deepEqual([slabs.start, slabs.end], [0, 3]);
  slabs.put(Buffer.from('xdefx'), 1, 4);
  assert.deepEqual([slabs.start, slabs.end], [3, 6]);
  assert.equal(first.toString('latin1', 0, 6), 'abcdef');
  slabs.reserve(VALUE_SLAB_BYTES - 6);
  assert.equal(slabs.slab, first, 'exactly the rest of the slab still fits');
  slabs.reserve(1);
  assert.notEqual(slabs.slab, first);
  assert.deepEqual([slabs.start, slabs.end], [0, 1]);
  const big = Buffer.alloc(VALUE_SLAB_BYTES + 10, 9);
  slabs.put(big, 0, big.length);
  assert.equal(slabs.slab.length, big.length);
  assert.deepEqual(slabs.slab.subarray(slabs.start, slabs.end), big);
});

void test('recycling ValueSlabs: a full slab is written again only once every value in it was released', () => {
  const slabs = new ValueSlabs(true);
  const value = Buffer.alloc(1000, 1);
  const perSlab = Math.floor(VALUE_SLAB_BYTES / value.length);
  const write = (fill: number): OutgoingRecord => {
    value.fill(fill);
    slabs.put(value, 0, value.length);
    return {
      key: Buffer.alloc(0),
      slab: slabs.slab,
      valueStart: slabs.start,
      valueEnd: slabs.end,
      hash: 0,
      partition: 0,
      scheduledAt: 0,
      owner: slabs.current,
    };
  };
  const first = Array.from({ length: perSlab }, () => write(7));
  const firstSlab = first[0].slab;
  // All but one released: the slab stays out of reuse, its last held value intact.
  for (const r of first.slice(1)) releaseValue(r);
  const later: OutgoingRecord[] = [];
  for (let i = 0; i < 5 * perSlab; i++) later.push(write(9));
  assert.ok(
    later.every((r) => r.slab !== firstSlab),
    'a slab with a value held was not written again',
  );
  assert.ok(recordValue(first[0]).every((b) => b === 7));
  // Released twice is released once: owner is cleared.
  releaseValue(first[1]);
  assert.equal(first[1].owner, undefined);
  // The last hold goes: the slab goes back to be written again, as do the later ones.
  releaseValue(first[0]);
  for (const r of later) releaseValue(r);
  const known = new Set([firstSlab, ...later.map((r) => r.slab)]);
  const next: OutgoingRecord[] = [];
  for (let i = 0; i < known.size * perSlab; i++) next.push(write(3));
  assert.ok(
    next.some((r) => r.slab === firstSlab),
    'the slab was used again once nothing held it',
  );
  assert.ok(
    next.every((r) => known.has(r.slab)),
    'no new slab while released ones were free',
  );
  // A recycled slab's new values are whole.
  assert.ok(next.every((r) => recordValue(r).every((b) => b === 3)));
});

void test('without recycling, values are never written over, released or not', () => {
  const slabs = new ValueSlabs();
  const seen = new Set<Buffer>();
  for (let i = 0; i < 300; i++) {
    slabs.put(Buffer.alloc(1000, i % 256), 0, 1000);
    seen.add(slabs.slab);
    assert.equal(slabs.current.refs, 0, 'nothing is counted');
  }
  assert.equal(seen.size, Math.ceil(300 / Math.floor(VALUE_SLAB_BYTES / 1000)));
});
