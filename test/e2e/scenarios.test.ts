/**
 * The scenario API over real HTTP: the catalog, bad definitions and unknown names with exact
 * problems, and a scenario started, seen in GET /api/v1/simulation and /metrics, and stopped.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { http, startApp, type TestApp, waitFor } from '../support/app.js';
import { uniqueTopic } from '../support/kafka.js';

let t: TestApp;
const FLEET = 'e2e-scenarios';

const call = (method: string, path: string, body?: unknown) => http(t.url, method, path, body);

function assertProblem(
  res: { status: number; type: string; body: any },
  status: number,
  detail: string,
  errors?: Array<{ field: string; rule: string; message: string }>,
) {
  assert.equal(res.status, status, JSON.stringify(res.body));
  assert.match(res.type, /^application\/problem\+json/);
  assert.equal(res.body.detail, detail);
  if (errors) assert.deepEqual(res.body.errors, errors);
}

async function metrics(): Promise<string> {
  const res = await fetch(`${t.url}/metrics`);
  assert.equal(res.status, 200);
  return res.text();
}

const stageLines = (text: string) =>
  text.split('\n').filter((l) => l.startsWith('fleetsim_scenario_stage_info{'));

before(async () => {
  t = await startApp({
    KAFKA_TOPIC: uniqueTopic('e2e-scenarios'),
    FLEETSIM_AUTOSTART: 'true',
    KAFKA_COMPRESSION: 'none',
  });
  const created = await call('POST', '/api/v1/fleets', {
    name: FLEET,
    deviceCount: 60,
    intervalMs: 500,
    layout: { buildings: 1, floorsPerBuilding: 3, roomsPerFloor: 4 },
    seed: 2,
  });
  assert.equal(created.status, 201, JSON.stringify(created.body));
});

after(async () => {
  await t?.close();
});

test('the catalog lists the built-in scenarios', async () => {
  const res = await call('GET', '/api/v1/scenarios');
  assert.equal(res.status, 200);
  const names = res.body.map((s: any) => s.name);
  for (const name of ['normal-day', 'heat-wave', 'hvac-failure', 'power-surge']) {
    assert.ok(names.includes(name), name);
  }
  assert.ok(res.body.every((s: any) => s.builtIn === true && s.running === false));
  const hvac = await call('GET', '/api/v1/scenarios/hvac-failure');
  assert.equal(hvac.status, 200);
  assert.deepEqual(hvac.body.stages[1].anomalies, [
    { kind: 'drift', sensor: 'temperature', magnitude: 30, building: 1, floor: 3 },
  ]);
});

test('unknown scenarios are 404 on read, start and stop; unknown fleets 422 on start', async () => {
  const missing = 'scenario "tsunami" does not exist';
  assertProblem(await call('GET', '/api/v1/scenarios/tsunami'), 404, missing);
  assertProblem(await call('POST', '/api/v1/scenarios/tsunami/start', {}), 404, missing);
  assertProblem(await call('POST', '/api/v1/scenarios/tsunami/stop'), 404, missing);
  assertProblem(
    await call('POST', '/api/v1/scenarios/heat-wave/start', { fleetId: 'ghost' }),
    422,
    'fleet "ghost" does not exist',
  );
  assertProblem(
    await call('POST', '/api/v1/scenarios/heat-wave/stop'),
    409,
    'scenario heat-wave is not running',
  );
});

test('bad scenario definitions are 400 naming the field and rule; duplicates 409', async () => {
  assertProblem(
    await call('POST', '/api/v1/scenarios', { name: 'empty', stages: [] }),
    400,
    'stages must hold at least one stage',
    [{ field: 'stages', rule: 'arrayMinSize', message: 'stages must hold at least one stage' }],
  );
  assertProblem(
    await call('POST', '/api/v1/scenarios', { name: 'none' }),
    400,
    'stages is required',
    [{ field: 'stages', rule: 'isDefined', message: 'stages is required' }],
  );
  assertProblem(
    await call('POST', '/api/v1/scenarios', {
      name: 'negative',
      stages: [{ name: 'back-in-time', durationMs: -5000 }],
    }),
    400,
    'stages.0.durationMs must not be less than 1000',
    [
      {
        field: 'stages.0.durationMs',
        rule: 'min',
        message: 'stages.0.durationMs must not be less than 1000',
      },
    ],
  );
  assertProblem(
    await call('POST', '/api/v1/scenarios', {
      name: 'Bad Name',
      stages: [{ name: 's', durationMs: 1000 }],
    }),
    400,
    'name must be lower-case letters, digits and single dashes (e.g. night-shift)',
  );
  const flapping = 'a flapping anomaly does not apply to sensor temperature; it applies to switch';
  assertProblem(
    await call('POST', '/api/v1/scenarios', {
      name: 'wrong-sensor',
      stages: [
        { name: 's', durationMs: 1000, anomalies: [{ kind: 'flapping', sensor: 'temperature' }] },
      ],
    }),
    400,
    flapping,
    [{ field: 'stages.0.anomalies.0.sensor', rule: 'validForKind', message: flapping }],
  );
  assertProblem(
    await call('POST', '/api/v1/scenarios', {
      name: 'too-hot',
      stages: [{ name: 's', durationMs: 1000, overrides: { anomalyRate: 0.5 } }],
    }),
    400,
    'stages.0.overrides.anomalyRate must not be greater than 0.1',
  );
  assertProblem(
    await call('POST', '/api/v1/scenarios', {
      name: 'heat-wave',
      stages: [{ name: 's', durationMs: 1000 }],
    }),
    409,
    'a scenario named heat-wave already exists',
  );
});

test('a built-in scenario starts, shows in the simulation status and metrics, and stops', async () => {
  const started = await call('POST', '/api/v1/scenarios/hvac-failure/start', { fleetId: FLEET });
  assert.equal(started.status, 200, JSON.stringify(started.body));
  assert.equal(started.body.state, 'running');
  assert.equal(started.body.stage, 'normal');
  assert.equal(started.body.fleetId, FLEET);

  const sim = await call('GET', '/api/v1/simulation');
  assert.equal(sim.body.scenario.name, 'hvac-failure');
  assert.equal(sim.body.scenario.stage, 'normal');
  assert.equal(sim.body.scenario.stageIndex, 0);
  assert.equal(sim.body.scenario.fleetId, FLEET);
  assert.equal(sim.body.scenario.endsAt, started.body.stageEndsAt);
  assert.deepEqual(stageLines(await metrics()), [
    'fleetsim_scenario_stage_info{scenario="hvac-failure",stage="normal"} 1',
  ]);
  assert.equal((await call('GET', '/api/v1/scenarios/hvac-failure')).body.running, true);

  // Starting another one stops the first.
  const surge = await call('POST', '/api/v1/scenarios/power-surge/start');
  assert.equal(surge.status, 200);
  assert.equal(surge.body.stage, 'surge');
  assert.equal(surge.body.fleetId, undefined);
  assert.equal((await call('GET', '/api/v1/scenarios/hvac-failure')).body.running, false);
  const injected = await call('GET', `/api/v1/anomalies?state=active&fleetId=${FLEET}`);
  assert.deepEqual(
    injected.body.items.map((a: any) => [a.kind, a.scenario, a.deviceCount]),
    [['overcurrent', 'power-surge', 60]],
  );
  assert.deepEqual(stageLines(await metrics()), [
    'fleetsim_scenario_stage_info{scenario="power-surge",stage="surge"} 1',
  ]);

  const stopped = await call('POST', '/api/v1/scenarios/power-surge/stop');
  assert.equal(stopped.status, 200);
  assert.equal(stopped.body.state, 'stopped');
  assert.equal((await call('GET', '/api/v1/simulation')).body.scenario, null);
  assert.deepEqual(stageLines(await metrics()), [], 'no series once nothing runs');
  const anomaly = await call('GET', `/api/v1/anomalies/${injected.body.items[0].id}`);
  assert.equal(anomaly.body.state, 'cancelled');
});

test('a user-defined scenario runs its stages to the end by itself', async () => {
  const created = await call('POST', '/api/v1/scenarios', {
    name: 'quick-blip',
    description: 'two short stages',
    stages: [
      { name: 'calm', durationMs: 1000, overrides: { dataVariation: 0.1 } },
      {
        name: 'blip',
        durationMs: 3000,
        anomalies: [{ kind: 'spike', sensor: 'pressure', building: 1, floor: 1, room: 1 }],
      },
    ],
  });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  assert.equal(created.headers.get('location'), '/api/v1/scenarios/quick-blip');
  assert.equal(created.body.builtIn, false);
  assert.equal(created.body.durationMs, 4000);

  const started = await call('POST', '/api/v1/scenarios/quick-blip/start');
  assert.equal(started.status, 200, JSON.stringify(started.body));
  const blip = await waitFor('the second stage', async () => {
    const s = (await call('GET', '/api/v1/simulation')).body.scenario;
    return s?.stage === 'blip' ? s : undefined;
  });
  assert.equal(blip.stageIndex, 1);
  const spikes = await call('GET', '/api/v1/anomalies?fleetId=' + FLEET);
  const spike = spikes.body.items.find((a: any) => a.scenario === 'quick-blip');
  assert.equal(spike.kind, 'spike');
  assert.equal(spike.deviceCount, 5, '60 devices in 12 rooms');
  await waitFor('the scenario to finish', async () =>
    (await call('GET', '/api/v1/simulation')).body.scenario === null ? true : undefined,
  );
  assertProblem(
    await call('POST', '/api/v1/scenarios/quick-blip/stop'),
    409,
    'scenario quick-blip is not running',
  );
  assert.equal((await call('DELETE', '/api/v1/scenarios/quick-blip')).status, 204);
  assert.equal((await call('GET', '/api/v1/scenarios/quick-blip')).status, 404);
});
