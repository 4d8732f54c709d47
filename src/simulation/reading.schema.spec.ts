import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import Ajv2020Module from 'ajv/dist/2020.js';
import { Fleet } from '../model/fleet.js';
import { deriveLayout } from '../model/layout.js';
import { projectRoot } from '../kafka/project-root.js';
import { generateReading } from './reading.generator.js';
import { JsonReadingSerializer } from './reading.serializer.js';
import { SENSOR_NAMES, type SensorName } from '../model/sensors/sensor.model.js';

const Ajv2020 = Ajv2020Module.default;
const schema = JSON.parse(readFileSync(join(projectRoot(), 'docs', 'reading.schema.json'), 'utf8'));
// Strict mode rejects unknown keywords; "format" stays an annotation (ts also has a pattern).
const validate = new Ajv2020({ strict: true, allErrors: true, validateFormats: false }).compile(
  schema,
);

function check(value: unknown): void {
  assert.ok(validate(value), JSON.stringify(validate.errors, null, 2));
}

function readings(sensors: SensorName[], count: number, anomalyRate: number): unknown[] {
  const fleet = new Fleet({
    id: `fleet-${sensors.length}`,
    name: 'x',
    deviceCount: 50,
    intervalMs: 1000,
    sensors,
    layout: deriveLayout(50),
    seed: 11,
  });
  const serializer = new JsonReadingSerializer();
  const out: unknown[] = [];
  const params = { dataVariation: 1, trendEnabled: true, trendStrength: 1, anomalyRate };
  for (let tick = 0; out.length < count; tick++) {
    const ts = Date.UTC(2026, 6, 1, 12) + tick * 1000;
    for (const d of fleet.devices) {
      if (generateReading(fleet, d, ts, params)) {
        out.push(JSON.parse(serializer.serialize(fleet, d, ts).toString('utf8')));
      }
    }
  }
  return out;
}

void test('serialized JSON readings are valid against docs/reading.schema.json', () => {
  const all = readings([...SENSOR_NAMES], 2000, 0.1);
  for (const value of all) check(value);
  const labelled = all.filter((v) => (v as { anomaly: unknown }).anomaly !== null);
  assert.ok(labelled.length > 20, `only ${labelled.length} anomalous readings`);
  for (const value of readings(['switch'], 100, 0)) check(value);
  for (const value of readings(['humidity', 'current'], 100, 0.1)) check(value);
});

void test('the schema rejects values that break it', () => {
  const [good] = readings([...SENSOR_NAMES], 1, 0) as Record<string, any>[];
  check(good);
  const broken: [string, Record<string, any>][] = [
    ['no seq', { ...good, seq: undefined }],
    ['negative seq', { ...good, seq: -1 }],
    ['ts without milliseconds', { ...good, ts: '2026-07-01T12:00:00Z' }],
    ['location floor 0', { ...good, location: { ...good.location, floor: 0 } }],
    ['temperature out of range', { ...good, readings: { ...good.readings, temperature: 61 } }],
    ['switch as a string', { ...good, readings: { ...good.readings, switch: 'on' } }],
    ['unknown sensor', { ...good, readings: { ...good.readings, voltage: 230 } }],
    ['no readings', { ...good, readings: {} }],
    ['unknown anomaly kind', { ...good, anomaly: { id: 'a', kind: 'boom', sensor: 'current' } }],
    ['missing anomaly', { ...good, anomaly: undefined }],
    ['extra member', { ...good, extra: 1 }],
  ];
  for (const [what, value] of broken) {
    const plain = JSON.parse(JSON.stringify(value));
    assert.equal(validate(plain), false, `schema accepted a value with ${what}`);
  }
});
