import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SENSOR_NAMES } from '../model/sensors/sensor.model.js';
import { ANOMALY_KINDS, defaultMagnitude, KIND_SENSORS } from '../model/anomaly.js';
import {
  effectiveMagnitude,
  kindSensorProblem,
  magnitudeProblem,
  magnitudeRange,
} from './anomaly.rules.js';

test('kind × sensor: each kind applies to its sensors only, and says which they are', () => {
  for (const kind of ANOMALY_KINDS) {
    for (const sensor of SENSOR_NAMES) {
      const problem = kindSensorProblem(kind, sensor);
      assert.equal(problem === undefined, KIND_SENSORS[kind].includes(sensor), `${kind}/${sensor}`);
    }
  }
  assert.deepEqual(kindSensorProblem('spike', 'switch'), {
    field: 'sensor',
    rule: 'validForKind',
    message:
      'a spike anomaly does not apply to sensor switch; it applies to temperature, humidity, pressure, current',
  });
  assert.deepEqual(kindSensorProblem('overcurrent', 'temperature', 'stages.0.anomalies.1.sensor'), {
    field: 'stages.0.anomalies.1.sensor',
    rule: 'validForKind',
    message: 'an overcurrent anomaly does not apply to sensor temperature; it applies to current',
  });
  assert.equal(kindSensorProblem('flapping', 'switch'), undefined);
  assert.equal(kindSensorProblem('stuck', 'switch'), undefined);
});

test('spike and drift offsets stay within ± the sensor range and are not 0', () => {
  assert.deepEqual(magnitudeRange('spike', 'temperature'), {
    min: -70,
    max: 70,
    unit: '°C',
    minExclusive: false,
    nonZero: true,
  });
  assert.equal(magnitudeProblem('spike', 'temperature', 70), undefined);
  assert.equal(magnitudeProblem('spike', 'temperature', -70), undefined);
  assert.equal(magnitudeProblem('drift', 'pressure', 35), undefined);
  assert.deepEqual(magnitudeProblem('spike', 'temperature', 70.5), {
    field: 'magnitude',
    rule: 'range',
    message: 'magnitude of a spike on temperature must be between -70 and 70 °C, not 0',
  });
  assert.equal(magnitudeProblem('spike', 'temperature', 0)?.rule, 'range');
  assert.equal(magnitudeProblem('drift', 'humidity', -100.01)?.rule, 'range');
  assert.equal(magnitudeProblem('drift', 'current', 10), undefined);
  assert.equal(magnitudeProblem('drift', 'current', 11)?.rule, 'range');
});

test('noise multiplies the spread by 1 … 20; overcurrent adds more than 0 up to the range', () => {
  assert.equal(magnitudeProblem('noise', 'pressure', 1), undefined);
  assert.equal(magnitudeProblem('noise', 'pressure', 20), undefined);
  assert.deepEqual(magnitudeProblem('noise', 'humidity', 25), {
    field: 'magnitude',
    rule: 'range',
    message: 'magnitude of a noise on humidity must be between 1 and 20 × sd',
  });
  assert.equal(magnitudeProblem('noise', 'humidity', 0.5)?.rule, 'range');
  assert.equal(magnitudeProblem('overcurrent', 'current', 10), undefined);
  assert.deepEqual(magnitudeProblem('overcurrent', 'current', 0), {
    field: 'magnitude',
    rule: 'range',
    message: 'magnitude of an overcurrent on current must be more than 0 and at most 10 A',
  });
  assert.equal(magnitudeProblem('overcurrent', 'current', -1)?.rule, 'range');
});

test('stuck, dropout and flapping take no magnitude', () => {
  for (const [kind, sensor] of [
    ['stuck', 'temperature'],
    ['dropout', 'humidity'],
    ['flapping', 'switch'],
  ] as const) {
    assert.equal(magnitudeRange(kind, sensor), null);
    assert.equal(magnitudeProblem(kind, sensor, undefined), undefined);
    assert.deepEqual(magnitudeProblem(kind, sensor, 1), {
      field: 'magnitude',
      rule: 'notAllowed',
      message: `magnitude is not allowed for a ${kind} anomaly`,
    });
    assert.equal(effectiveMagnitude(kind, sensor, undefined), null);
  }
});

test('the default magnitude of every kind with one is within its own range', () => {
  for (const kind of ANOMALY_KINDS) {
    for (const sensor of KIND_SENSORS[kind]) {
      if (!magnitudeRange(kind, sensor)) continue;
      const m = defaultMagnitude(kind, sensor);
      assert.equal(magnitudeProblem(kind, sensor, m), undefined, `${kind}/${sensor} default ${m}`);
      assert.equal(effectiveMagnitude(kind, sensor, undefined), m);
    }
  }
  assert.equal(effectiveMagnitude('spike', 'temperature', 40), 40);
});
