/**
 * The anomaly API over real HTTP: exact status codes and problem messages for bad input, the
 * life of an injected anomaly, and a fleet that keeps streaming through all of it.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { http, startApp, type TestApp, waitFor } from '../support/app.js';
import { uniqueTopic } from '../support/kafka.js';

let t: TestApp;
let deviceId: string;
const FLEET = 'e2e-anomalies';

const call = (method: string, path: string, body?: unknown) => http(t.url, method, path, body);

/** A valid injection, changed by `over` (target merged). */
function injection(over: Record<string, unknown> = {}) {
  const { target, ...rest } = over;
  return {
    target: { fleetId: FLEET, building: 1, floor: 2, room: 3, ...(target as object) },
    sensor: 'temperature',
    kind: 'spike',
    magnitude: 40,
    durationMs: 60_000,
    ...rest,
  };
}

/** Asserts a problem+json response with this status and, when given, exactly these errors. */
function assertProblem(
  res: { status: number; type: string; body: any },
  status: number,
  detail: string,
  errors?: Array<{ field: string; rule: string; message: string }>,
) {
  assert.equal(res.status, status, JSON.stringify(res.body));
  assert.match(res.type, /^application\/problem\+json/);
  assert.equal(res.body.status, status);
  assert.equal(res.body.detail, detail);
  if (errors) assert.deepEqual(res.body.errors, errors);
}

async function nextSeq(): Promise<number> {
  const res = await call('GET', `/api/v1/devices/${deviceId}`);
  assert.equal(res.status, 200);
  return res.body.nextSeq as number;
}

before(async () => {
  t = await startApp({
    KAFKA_TOPIC: uniqueTopic('e2e-anomalies'),
    FLEETSIM_AUTOSTART: 'true',
    KAFKA_COMPRESSION: 'none',
    // Calm, flat readings: a spike of 40 °C is then always above the 50 °C alarm.
    FLEETSIM_TREND_ENABLED: 'false',
    FLEETSIM_DATA_VARIATION: '0.5',
  });
  const created = await call('POST', '/api/v1/fleets', {
    name: FLEET,
    deviceCount: 40,
    intervalMs: 200,
    sensors: ['temperature', 'switch', 'current'],
    layout: { buildings: 1, floorsPerBuilding: 2, roomsPerFloor: 5 },
    seed: 1,
  });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const devices = await call('GET', `/api/v1/fleets/${FLEET}/devices?limit=1`);
  deviceId = devices.body.items[0].id;
  await waitFor('the fleet to stream', async () => ((await nextSeq()) > 0 ? true : undefined));
});

after(async () => {
  await t?.close();
});

test('unknown sensor and unknown kind are 400 naming the field and the rule', async () => {
  assertProblem(
    await call('POST', '/api/v1/anomalies', injection({ sensor: 'voltage' })),
    400,
    'sensor must be one of the following values: temperature, humidity, pressure, switch, current',
    [
      {
        field: 'sensor',
        rule: 'isIn',
        message:
          'sensor must be one of the following values: temperature, humidity, pressure, switch, current',
      },
    ],
  );
  assertProblem(
    await call('POST', '/api/v1/anomalies', injection({ kind: 'earthquake' })),
    400,
    'kind must be one of the following values: spike, drift, stuck, dropout, noise, flapping, overcurrent',
    [
      {
        field: 'kind',
        rule: 'isIn',
        message:
          'kind must be one of the following values: spike, drift, stuck, dropout, noise, flapping, overcurrent',
      },
    ],
  );
});

test('a kind that does not apply to the sensor, or a sensor the fleet lacks, is 400', async () => {
  const spikeOnSwitch =
    'a spike anomaly does not apply to sensor switch; it applies to temperature, humidity, pressure, current';
  assertProblem(
    await call('POST', '/api/v1/anomalies', injection({ sensor: 'switch' })),
    400,
    spikeOnSwitch,
    [{ field: 'sensor', rule: 'validForKind', message: spikeOnSwitch }],
  );
  const flapping = 'a flapping anomaly does not apply to sensor current; it applies to switch';
  assertProblem(
    await call(
      'POST',
      '/api/v1/anomalies',
      injection({ kind: 'flapping', sensor: 'current', magnitude: undefined }),
    ),
    400,
    flapping,
    [{ field: 'sensor', rule: 'validForKind', message: flapping }],
  );
  const lacks =
    'fleet e2e-anomalies does not carry sensor humidity; its devices carry temperature, switch, current';
  assertProblem(
    await call('POST', '/api/v1/anomalies', injection({ sensor: 'humidity', magnitude: -40 })),
    422,
    lacks,
    [{ field: 'sensor', rule: 'carriedByFleet', message: lacks }],
  );
});

test('magnitude out of range, or given where none applies, is 400', async () => {
  const spike = 'magnitude of a spike on temperature must be between -70 and 70 °C, not 0';
  assertProblem(await call('POST', '/api/v1/anomalies', injection({ magnitude: 71 })), 400, spike, [
    { field: 'magnitude', rule: 'range', message: spike },
  ]);
  const noise = 'magnitude of a noise on current must be between 1 and 20 × sd';
  assertProblem(
    await call(
      'POST',
      '/api/v1/anomalies',
      injection({ kind: 'noise', sensor: 'current', magnitude: 21 }),
    ),
    400,
    noise,
    [{ field: 'magnitude', rule: 'range', message: noise }],
  );
  const stuck = 'magnitude is not allowed for a stuck anomaly';
  assertProblem(
    await call('POST', '/api/v1/anomalies', injection({ kind: 'stuck', magnitude: 5 })),
    400,
    stuck,
    [{ field: 'magnitude', rule: 'notAllowed', message: stuck }],
  );
  assertProblem(
    await call('POST', '/api/v1/anomalies', injection({ magnitude: 'high' })),
    400,
    'magnitude must be a number conforming to the specified constraints',
    [
      {
        field: 'magnitude',
        rule: 'isNumber',
        message: 'magnitude must be a number conforming to the specified constraints',
      },
    ],
  );
});

test('duration and start delay out of range are 400', async () => {
  assertProblem(
    await call('POST', '/api/v1/anomalies', injection({ durationMs: 999 })),
    400,
    'durationMs must not be less than 1000',
    [{ field: 'durationMs', rule: 'min', message: 'durationMs must not be less than 1000' }],
  );
  assertProblem(
    await call('POST', '/api/v1/anomalies', injection({ durationMs: 86_400_001 })),
    400,
    'durationMs must not be greater than 86400000',
    [{ field: 'durationMs', rule: 'max', message: 'durationMs must not be greater than 86400000' }],
  );
  assertProblem(
    await call('POST', '/api/v1/anomalies', injection({ durationMs: undefined })),
    400,
    'durationMs is required',
    [{ field: 'durationMs', rule: 'isDefined', message: 'durationMs is required' }],
  );
  assertProblem(
    await call('POST', '/api/v1/anomalies', injection({ startInMs: -1 })),
    400,
    'startInMs must not be less than 0',
    [{ field: 'startInMs', rule: 'min', message: 'startInMs must not be less than 0' }],
  );
});

test('a target that matches no device is 422; an unknown fleet is 404; no target is 400', async () => {
  const none =
    'target matches no device: there is no device in building 2, floor 2, room 3 of fleet e2e-anomalies';
  assertProblem(
    await call('POST', '/api/v1/anomalies', injection({ target: { building: 2 } })),
    422,
    none,
    [{ field: 'target', rule: 'matchesDevices', message: none }],
  );
  const unknownDevice =
    'target.deviceIds lists devices that are not in fleet e2e-anomalies: e2e-anomalies.b1.f1.r1.d999';
  assertProblem(
    await call(
      'POST',
      '/api/v1/anomalies',
      injection({ target: { deviceIds: ['e2e-anomalies.b1.f1.r1.d999'] } }),
    ),
    422,
    unknownDevice,
    [{ field: 'target.deviceIds', rule: 'inFleet', message: unknownDevice }],
  );
  assertProblem(
    await call('POST', '/api/v1/anomalies', injection({ target: { fleetId: 'ghost' } })),
    404,
    'fleet "ghost" does not exist',
  );
  assertProblem(
    await call('POST', '/api/v1/anomalies', injection({ target: { floor: 0 } })),
    400,
    'target.floor must not be less than 1',
    [{ field: 'target.floor', rule: 'min', message: 'target.floor must not be less than 1' }],
  );
  const { target: _target, ...noTarget } = injection();
  assertProblem(await call('POST', '/api/v1/anomalies', noTarget), 400, 'target is required', [
    { field: 'target', rule: 'isDefined', message: 'target is required' },
  ]);
  assertProblem(
    await call('POST', '/api/v1/anomalies', injection({ color: 'red' })),
    400,
    'color is not a known field',
    [{ field: 'color', rule: 'unknown', message: 'color is not a known field' }],
  );
});

test('unknown anomaly ids are 404 on GET and DELETE', async () => {
  assertProblem(
    await call('GET', '/api/v1/anomalies/inj-999'),
    404,
    'anomaly "inj-999" does not exist',
  );
  assertProblem(
    await call('DELETE', '/api/v1/anomalies/inj-999'),
    404,
    'anomaly "inj-999" does not exist',
  );
});

test('an injected anomaly is created, listed, read and cancelled', async () => {
  const before = Date.now();
  const res = await call('POST', '/api/v1/anomalies', injection({ startInMs: 0 }));
  assert.equal(res.status, 201, JSON.stringify(res.body));
  const a = res.body;
  assert.match(a.id, /^inj-\d+$/);
  assert.equal(a.kind, 'spike');
  assert.equal(a.sensor, 'temperature');
  assert.equal(a.magnitude, 40);
  assert.deepEqual(a.target, { fleetId: FLEET, building: 1, floor: 2, room: 3 });
  assert.equal(a.deviceCount, 4, '40 devices in 10 rooms');
  assert.equal(a.devices.length, 4);
  assert.ok(a.devices.every((id: string) => id.startsWith(`${FLEET}.b1.f2.r3.`)));
  assert.equal(a.state, 'active');
  const startsAt = Date.parse(a.startsAt);
  assert.ok(startsAt >= before - 1 && startsAt <= Date.now() + 1);
  assert.equal(Date.parse(a.endsAt) - startsAt, 60_000);

  const list = await call('GET', '/api/v1/anomalies');
  assert.equal(list.status, 200);
  assert.ok(list.body.items.some((x: any) => x.id === a.id && x.state === 'active'));
  assert.equal(list.body.random.active, 0, 'the anomaly rate is 0');
  const active = await call('GET', `/api/v1/anomalies?state=active&fleetId=${FLEET}`);
  assert.deepEqual(
    active.body.items.map((x: any) => x.id),
    [a.id],
  );
  assertProblem(
    await call('GET', '/api/v1/anomalies?state=over'),
    400,
    'state must be one of the following values: scheduled, active, ended, cancelled',
  );

  // The room's devices carry the label in their last reading.
  const labelled = await waitFor('a labelled reading', async () => {
    const d = await call('GET', `/api/v1/devices/${a.devices[0]}`);
    return d.body.lastReading?.anomaly?.id === a.id ? d.body.lastReading : undefined;
  });
  assert.ok(labelled.readings.temperature > 50);

  const cancelled = await call('DELETE', `/api/v1/anomalies/${a.id}`);
  assert.equal(cancelled.status, 204);
  const after = await call('GET', `/api/v1/anomalies/${a.id}`);
  assert.equal(after.body.state, 'cancelled');
  assert.ok(Date.parse(after.body.endsAt) < startsAt + 60_000);
  await waitFor('an unlabelled reading after the cancel', async () => {
    const d = await call('GET', `/api/v1/devices/${a.devices[0]}`);
    const r = d.body.lastReading;
    return Date.parse(r.ts) >= Date.parse(after.body.endsAt) && r.anomaly === null
      ? true
      : undefined;
  });
  assert.equal((await call('DELETE', `/api/v1/anomalies/${a.id}`)).status, 204, 'idempotent');
});

test('scaling to 0 or over 100000 is 400, and the fleet keeps streaming through bad requests', async () => {
  const seqBefore = await nextSeq();
  assertProblem(
    await call('PATCH', `/api/v1/fleets/${FLEET}`, { deviceCount: 0 }),
    400,
    'deviceCount must not be less than 1',
    [{ field: 'deviceCount', rule: 'min', message: 'deviceCount must not be less than 1' }],
  );
  assertProblem(
    await call('PATCH', `/api/v1/fleets/${FLEET}`, { deviceCount: 100_001 }),
    400,
    'deviceCount must not be greater than 100000',
    [{ field: 'deviceCount', rule: 'max', message: 'deviceCount must not be greater than 100000' }],
  );
  assertProblem(
    await call('PATCH', '/api/v1/fleets/ghost', { deviceCount: 10 }),
    404,
    'fleet "ghost" does not exist',
  );
  const fleet = await call('GET', `/api/v1/fleets/${FLEET}`);
  assert.equal(fleet.body.deviceCount, 40, 'the bad requests changed nothing');
  await waitFor('the device seq to advance', async () =>
    (await nextSeq()) >= seqBefore + 3 ? true : undefined,
  );
  const sim = await call('GET', '/api/v1/simulation');
  assert.equal(sim.body.state, 'running');
});
