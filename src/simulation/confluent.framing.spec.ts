import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Fleet } from '../model/fleet.js';
import { deriveLayout } from '../model/layout.js';
import { confluentPrefix, FramedSerializer } from './confluent.framing.js';
import { serializerFor } from './reading.pipeline.js';
import { JsonReadingSerializer } from './reading.serializer.js';

void test('confluentPrefix: magic byte 0, the id big-endian, and for Protobuf message indexes [0]', () => {
  assert.deepEqual([...confluentPrefix(0x01020304, 'json')], [0, 1, 2, 3, 4]);
  assert.deepEqual([...confluentPrefix(7, 'protobuf')], [0, 0, 0, 0, 7, 0]);
  assert.deepEqual([...confluentPrefix(0xffff_ffff, 'json')], [0, 255, 255, 255, 255]);
  for (const bad of [-1, 1.5, 2 ** 32]) {
    assert.throws(() => confluentPrefix(bad, 'json'), RangeError);
  }
});

void test('FramedSerializer writes the prefix, then the plain value byte for byte', () => {
  const fleet = new Fleet({
    id: 'f',
    name: 'F',
    deviceCount: 2,
    intervalMs: 1000,
    sensors: ['temperature', 'switch'],
    layout: deriveLayout(2),
    seed: 1,
  });
  const [device] = fleet.devices;
  device.seq = 1;
  const ts = Date.UTC(2026, 0, 1);
  const plain = new JsonReadingSerializer().serialize(fleet, device, ts);
  const prefix = confluentPrefix(42, 'json');
  const framed = new FramedSerializer(new JsonReadingSerializer(), prefix);
  const value = framed.serialize(fleet, device, ts);
  assert.deepEqual(value.subarray(0, 5), prefix);
  assert.deepEqual(value.subarray(5), plain);
  assert.equal(framed.contentType, 'application/json');
});

void test('serializerFor frames only when given a prefix', () => {
  assert.ok(!(serializerFor('protobuf') instanceof FramedSerializer));
  const framed = serializerFor('protobuf', confluentPrefix(3, 'protobuf'));
  assert.ok(framed instanceof FramedSerializer);
  assert.match(framed.contentType, /protobuf/);
});
