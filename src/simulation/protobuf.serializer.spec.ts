import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import protobuf from 'protobufjs';
import type { AnomalyEffect } from '../model/anomaly.js';
import { type Device, Fleet } from '../model/fleet.js';
import { deriveLayout } from '../model/layout.js';
import { projectRoot } from '../kafka/project-root.js';
import { ProtobufReadingSerializer, varintSize, writeVarint } from './protobuf.serializer.js';
import { type GenerationParams, generateReading } from './reading.generator.js';
import { JsonReadingSerializer } from './reading.serializer.js';
import { SENSOR_NAMES, type SensorName } from '../model/sensors/sensor.model.js';
import { serializerFor } from './reading.pipeline.js';

// The independent decoder: protobufjs reading the committed .proto.
const root = protobuf.loadSync(join(projectRoot(), 'proto', 'reading.proto'));
const Reading = root.lookupType('fleetsim.v1.Reading');

const PARAMS: GenerationParams = {
  dataVariation: 1,
  trendEnabled: true,
  trendStrength: 1,
  anomalyRate: 0.1,
};
const T0 = Date.UTC(2026, 0, 15, 8, 30, 0, 250);

function fleetOf(id: string, sensors: SensorName[], deviceCount = 40, seed = 7): Fleet {
  return new Fleet({
    id,
    name: id,
    deviceCount,
    intervalMs: 1000,
    sensors,
    layout: deriveLayout(deviceCount),
    seed,
  });
}

type Decoded = Record<string, any>;

function decode(value: Buffer): Decoded {
  return Reading.toObject(Reading.decode(value), { longs: Number });
}

/** Asserts that the Protobuf value says exactly what the JSON value says, field by field. */
function assertSame(jsonValue: Buffer, protoValue: Buffer): void {
  const json = JSON.parse(jsonValue.toString('utf8'));
  const pb = decode(protoValue);
  const where = json.deviceId;
  assert.equal(pb.deviceId, json.deviceId);
  assert.equal(pb.fleetId, json.fleetId, where);
  // proto3 leaves a 0 seq off the wire; it decodes as 0.
  assert.equal(pb.seq ?? 0, json.seq, where);
  const seconds = pb.ts.seconds ?? 0;
  const nanos = pb.ts.nanos ?? 0;
  assert.equal(nanos % 1_000_000, 0, `${where}: ts has whole milliseconds`);
  assert.equal(new Date(seconds * 1000 + nanos / 1_000_000).toISOString(), json.ts, where);
  assert.deepEqual(pb.location, json.location, where);
  // Same sensors present (absent ones absent, not defaulted), same values.
  assert.deepEqual(Object.keys(pb.readings).sort(), Object.keys(json.readings).sort(), where);
  for (const [sensor, value] of Object.entries(json.readings)) {
    assert.equal(pb.readings[sensor], value, `${where} ${sensor}`);
  }
  if (json.anomaly === null) assert.equal(pb.anomaly, undefined, where);
  else assert.deepEqual(pb.anomaly, json.anomaly, where);
}

/** Serializes the device's latest reading both ways. */
function both(fleet: Fleet, d: Device, ts: number) {
  return {
    json: new JsonReadingSerializer().serialize(fleet, d, ts),
    proto: new ProtobufReadingSerializer().serialize(fleet, d, ts),
  };
}

void test('protobuf values decode with protobufjs to what the JSON values say', () => {
  const fleet = fleetOf('plant-a', [...SENSOR_NAMES], 200);
  const json = new JsonReadingSerializer();
  const proto = new ProtobufReadingSerializer();
  let anomalous = 0;
  let compared = 0;
  for (let tick = 0; tick < 40; tick++) {
    const ts = T0 + tick * 1000 + (tick % 7);
    for (const d of fleet.devices) {
      if (!generateReading(fleet, d, ts, PARAMS)) continue;
      const pb = proto.serialize(fleet, d, ts);
      assertSame(json.serialize(fleet, d, ts), pb);
      // Canonical encoding: protobufjs re-encodes the decoded message to the same bytes.
      assert.ok(Buffer.from(Reading.encode(Reading.decode(pb)).finish()).equals(pb), d.id);
      if (d.lastLabel) anomalous++;
      compared++;
    }
  }
  assert.ok(compared > 7000, `compared ${compared} readings`);
  assert.ok(anomalous > 100, `only ${anomalous} anomalous readings were compared`);
});

void test('a fleet with a subset of sensors leaves the others out, and 0 and false are present', () => {
  const subsets: SensorName[][] = [
    ['switch'],
    ['temperature'],
    ['humidity', 'current'],
    ['temperature', 'pressure', 'switch'],
  ];
  for (const sensors of subsets) {
    const fleet = fleetOf(`sub-${sensors.join('-')}`, sensors, 5);
    const d = fleet.devices[3];
    generateReading(fleet, d, T0, { ...PARAMS, anomalyRate: 0 });
    d.values.fill(0);
    d.switchOn = false;
    const { json, proto } = both(fleet, d, T0);
    assertSame(json, proto);
    const readings = Reading.decode(proto).toJSON().readings as Record<string, unknown>;
    assert.deepEqual(Object.keys(readings).sort(), [...sensors].sort());
    for (const s of sensors) assert.equal(readings[s], s === 'switch' ? false : 0);
  }
});

void test('seq, timestamps and strings at the edges of their encodings', () => {
  const fleet = fleetOf('edge', [...SENSOR_NAMES], 3);
  const d = fleet.devices[2];
  generateReading(fleet, d, T0, { ...PARAMS, anomalyRate: 0 });
  const label: AnomalyEffect = {
    id: 'injected-ünïcødé-✓-' + 'x'.repeat(200),
    kind: 'stuck',
    sensor: 'pressure',
    magnitude: 0,
    startsAt: 0,
    endsAt: 1,
  };
  const cases: { seq: number; ts: number; label: AnomalyEffect | null }[] = [
    { seq: 1, ts: T0, label: null }, // seq 0
    { seq: 2, ts: Date.UTC(2026, 5, 1), label: null }, // nanos 0
    { seq: 128, ts: 0, label }, // the epoch: seconds and nanos both 0
    { seq: 2 ** 40 + 1, ts: -1, label }, // before the epoch: negative seconds
    { seq: Number.MAX_SAFE_INTEGER, ts: Date.UTC(2099, 11, 31, 23, 59, 59, 999), label },
  ];
  for (const c of cases) {
    d.seq = c.seq;
    d.lastLabel = c.label;
    const { json, proto } = both(fleet, d, c.ts);
    assertSame(json, proto);
    assert.equal(decode(proto).seq ?? 0, c.seq - 1);
  }
});

void test('varints match protobufjs', () => {
  for (const n of [0, 1, 127, 128, 300, 2 ** 31, 2 ** 32 - 1, 2 ** 35 + 3, 2 ** 53 - 1]) {
    const buf = Buffer.alloc(10);
    const end = writeVarint(buf, 0, n);
    assert.equal(end, varintSize(n), `size of ${n}`);
    const expected = protobuf.Writer.create().uint64(n).finish();
    assert.deepEqual(buf.subarray(0, end), Buffer.from(expected), `bytes of ${n}`);
  }
});

void test('forget drops a fleet layout, so a new fleet with the same id gets its own sensors', () => {
  const proto = new ProtobufReadingSerializer();
  const first = fleetOf('reused', ['temperature', 'switch'], 2);
  generateReading(first, first.devices[0], T0, PARAMS);
  assert.deepEqual(Object.keys(decode(proto.serialize(first, first.devices[0], T0)).readings), [
    'temperature',
    'switch',
  ]);
  proto.forget('reused');
  const second = fleetOf('reused', ['humidity'], 2);
  generateReading(second, second.devices[0], T0, PARAMS);
  assert.deepEqual(Object.keys(decode(proto.serialize(second, second.devices[0], T0)).readings), [
    'humidity',
  ]);
});

void test('the value format picks the serializer', () => {
  assert.ok(serializerFor('json') instanceof JsonReadingSerializer);
  assert.ok(serializerFor('protobuf') instanceof ProtobufReadingSerializer);
  assert.match(serializerFor('protobuf').contentType, /protobuf/);
  assert.equal(serializerFor('json').contentType, 'application/json');
});
