import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Device, Fleet } from '../model/fleet.js';
import { deriveLayout } from '../model/layout.js';
import { generateReading } from './reading.generator.js';
import { formatRound2, JsonReadingSerializer } from './reading.serializer.js';
import { SENSOR_NAMES, type SensorName } from '../model/sensors/sensor.model.js';

const round2 = (v: number) => Math.round(v * 100) / 100;
const INDEX: Record<string, number> = { temperature: 0, humidity: 1, pressure: 2, current: 3 };

/** The value as the first, straightforward serializer wrote it (Date, String of doubles). */
function reference(fleet: Fleet, d: Device, ts: number): string {
  const label = d.lastLabel;
  const readings = fleet.sensors
    .map((s) =>
      s === 'switch' ? `"switch":${d.switchOn}` : `"${s}":${round2(d.values[INDEX[s]])}`,
    )
    .join(',');
  const anomaly =
    label === null
      ? 'null'
      : `{"id":"${label.id}","kind":"${label.kind}","sensor":"${label.sensor}"}`;
  return (
    `{"deviceId":"${d.id}","fleetId":"${d.fleetId}","seq":${d.seq - 1},"ts":"${new Date(ts).toISOString()}",` +
    `"location":{"building":${d.location.building},"floor":${d.location.floor},"room":${d.location.room}},"readings":{` +
    `${readings}},"anomaly":${anomaly}}`
  );
}

void test('formatRound2 writes what String(round2(v)) writes', () => {
  for (let k = -2_000_000; k <= 2_000_000; k++) {
    const v = k / 100;
    if (formatRound2(v) !== String(round2(v))) assert.fail(`k=${k}: ${formatRound2(v)}`);
  }
  let seed = 12345;
  const random = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32) * 2 - 1;
  for (let i = 0; i < 200_000; i++) {
    for (const scale of [1, 60, 1100, 1e6, 1e10]) {
      const v = random() * scale;
      if (formatRound2(v) !== String(round2(v))) assert.fail(`v=${v}: ${formatRound2(v)}`);
    }
  }
  for (const v of [
    0, -0, -0.004, -0.005, -0.006, 0.005, 0.015, 1.005, -1.005, 59.999, 1e11, -1e11,
  ]) {
    assert.equal(formatRound2(v), String(round2(v)), `v=${v}`);
  }
  for (const v of [1e12, -1e15, Number.MAX_VALUE, Infinity, -Infinity, NaN]) {
    assert.equal(formatRound2(v), String(round2(v)), `v=${v}`);
  }
});

void test('serialize writes the same bytes as the straightforward serializer', () => {
  const sensorSets: SensorName[][] = [[...SENSOR_NAMES], ['switch', 'current'], ['pressure']];
  for (const sensors of sensorSets) {
    const fleet = new Fleet({
      id: `fleet-${sensors.length}`,
      name: 'f',
      deviceCount: 500,
      intervalMs: 1000,
      sensors,
      layout: deriveLayout(500),
      seed: 99,
    });
    const serializer = new JsonReadingSerializer();
    const params = { dataVariation: 1, trendEnabled: true, trendStrength: 1, anomalyRate: 0.1 };
    // Fractional event times, across second, minute and day boundaries, and back in time.
    let ts = Date.UTC(2025, 11, 31, 23, 59, 58, 700) + 0.37;
    let labelled = 0;
    for (let cycle = 0; cycle < 40; cycle++) {
      for (const d of fleet.devices) {
        const at = ts + d.index * 1.9;
        if (!generateReading(fleet, d, at, params)) continue;
        if (d.lastLabel) labelled++;
        const value = serializer.serialize(fleet, d, at).toString('utf8');
        if (value !== reference(fleet, d, at)) {
          assert.equal(value, reference(fleet, d, at));
        }
      }
      ts += cycle === 20 ? -86_400_000 : 1000;
    }
    assert.ok(labelled > 0, 'some readings carried an anomaly label');
  }
});

void test('serialize keeps the timestamp of times before 1970 and rejects invalid ones', () => {
  const fleet = new Fleet({
    id: 'old',
    name: 'old',
    deviceCount: 1,
    intervalMs: 1000,
    sensors: [...SENSOR_NAMES],
    layout: deriveLayout(1),
    seed: 1,
  });
  const d = fleet.devices[0];
  const serializer = new JsonReadingSerializer();
  for (const ts of [-1, -0.5, -999.9, -1000, -1000.5, -86_400_001.25, 0, 0.9, 999.99]) {
    const json = JSON.parse(serializer.serialize(fleet, d, ts).toString()) as { ts: string };
    assert.equal(json.ts, new Date(ts).toISOString(), `ts=${ts}`);
  }
  assert.throws(() => serializer.serialize(fleet, d, NaN), RangeError);
  assert.throws(() => serializer.serialize(fleet, d, 8.64e15 + 1000), RangeError);
  assert.ok(d instanceof Device);
});

void test('a value stays as it was written while later readings are serialized', () => {
  const fleet = new Fleet({
    id: 'kept',
    name: 'kept',
    deviceCount: 50,
    intervalMs: 1000,
    sensors: [...SENSOR_NAMES],
    layout: deriveLayout(50),
    seed: 5,
  });
  const serializer = new JsonReadingSerializer();
  const params = { dataVariation: 1, trendEnabled: true, trendStrength: 1, anomalyRate: 0 };
  const kept: Array<[Buffer, string]> = [];
  let ts = Date.UTC(2026, 0, 1);
  for (let cycle = 0; cycle < 5; cycle++, ts += 1000) {
    for (const d of fleet.devices) {
      generateReading(fleet, d, ts, params);
      const value = serializer.serialize(fleet, d, ts);
      kept.push([value, value.toString('utf8')]);
    }
  }
  for (const [value, text] of kept) assert.equal(value.toString('utf8'), text);
});

void test('long anomaly labels, resized fleets and a fleet replaced under its id', () => {
  const make = (deviceCount: number, seed: number) =>
    new Fleet({
      id: 'grow',
      name: 'grow',
      deviceCount,
      intervalMs: 1000,
      sensors: [...SENSOR_NAMES],
      layout: deriveLayout(10_000),
      seed,
    });
  const serializer = new JsonReadingSerializer();
  const params = { dataVariation: 1, trendEnabled: false, trendStrength: 0, anomalyRate: 0 };
  const ts = Date.UTC(2026, 0, 1, 12);
  const check = (fleet: Fleet) => {
    for (const d of fleet.devices) {
      generateReading(fleet, d, ts, params);
      assert.equal(serializer.serialize(fleet, d, ts).toString('utf8'), reference(fleet, d, ts));
    }
  };
  const fleet = make(3, 1);
  check(fleet);
  // A label far longer than the scratch space the serializer starts with.
  const d = fleet.devices[1];
  d.addEffect({
    id: `x${'é'.repeat(6000)}`,
    kind: 'spike',
    sensor: 'temperature',
    magnitude: 5,
    startsAt: 0,
    endsAt: ts * 2,
  });
  check(fleet);
  assert.ok(d.lastLabel !== null);
  d.removeEffect(d.effects![0].id);
  fleet.resize(1);
  check(fleet);
  fleet.resize(300);
  check(fleet);
  // Another fleet object with the same id (deleted and created again), other devices.
  check(make(5, 2));
});
