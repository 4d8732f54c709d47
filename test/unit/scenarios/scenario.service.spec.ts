import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Logger } from '@nestjs/common';
import { AnomalyService } from '../../../src/anomalies/anomaly.service.js';
import { Fleet } from '../../../src/model/fleet.js';
import { FleetRegistry } from '../../../src/simulation/fleet.registry.js';
import { ActiveScenario } from '../../../src/simulation/active.scenario.js';
import type {
  ParamOverrides,
  SimulationService,
} from '../../../src/simulation/simulation.service.js';
import { BUILTIN_SCENARIOS } from '../../../src/scenarios/builtin.scenarios.js';
import { scenarioDuration } from '../../../src/scenarios/scenario.js';
import type { CreateScenarioDto } from '../../../src/scenarios/scenario.dto.js';
import { ScenarioService, stageAnomalyProblems } from '../../../src/scenarios/scenario.service.js';
import { FakeClock } from '../../support/fake.clock.js';
import { thrownProblem } from '../../support/problems.js';
import type { AnomalyLabels } from '../../../src/anomalies/anomaly.labels.js';

/** No label topic. */
const NO_LABELS = { enabled: false, publish() {} } as unknown as AnomalyLabels;

Logger.overrideLogger(false);

const T0 = Date.UTC(2026, 5, 10, 12, 0, 0);
const MINUTE = 60_000;

function fleet(id: string, sensors: Fleet['sensors'], floors = 2): Fleet {
  return new Fleet({
    id,
    name: id,
    deviceCount: 40,
    intervalMs: 1000,
    sensors,
    layout: { buildings: 1, floorsPerBuilding: floors, roomsPerFloor: 4 },
    seed: 1,
  });
}

function setup() {
  const registry = new FleetRegistry();
  registry.add(fleet('plant', ['temperature', 'switch', 'current']));
  registry.add(fleet('lab', ['humidity', 'switch']));
  const overrides: ParamOverrides[][] = [];
  const simulation = {
    setOverrides: (o: ParamOverrides[]) => overrides.push(o),
  } as unknown as SimulationService;
  const timers = new FakeClock(T0);
  const anomalies = new AnomalyService(registry, timers, NO_LABELS);
  const active = new ActiveScenario();
  const service = new ScenarioService(simulation, anomalies, registry, active, timers);
  return { registry, simulation, active, overrides, timers, anomalies, service };
}

test('built-in scenarios are valid plans', () => {
  const names = BUILTIN_SCENARIOS.map((s) => s.name);
  assert.deepEqual(names, ['normal-day', 'heat-wave', 'hvac-failure', 'power-surge']);
  for (const s of BUILTIN_SCENARIOS) {
    assert.match(s.name, /^[a-z0-9]+(-[a-z0-9]+)*$/);
    assert.ok(s.stages.length >= 1 && s.stages.every((st) => st.durationMs >= 1000), s.name);
    assert.deepEqual(stageAnomalyProblems(s.stages), [], s.name);
  }
});

test('hvac-failure walks its stages on one fleet, on the highest floor there is', () => {
  const { overrides, timers, anomalies, service, active } = setup();
  const run = service.start('hvac-failure', 'plant');
  assert.equal(run.stage, 'normal');
  assert.equal(run.stageCount, 4);
  assert.equal(run.endsAt, new Date(T0 + 7 * MINUTE).toISOString());
  assert.deepEqual(active.status(), {
    name: 'hvac-failure',
    stage: 'normal',
    stageIndex: 0,
    fleetId: 'plant',
    endsAt: new Date(T0 + MINUTE).toISOString(),
  });
  assert.equal(anomalies.list().items.length, 0);

  timers.advance(MINUTE);
  assert.equal(active.status()?.stage, 'cooling-lost');
  let items = anomalies.list().items;
  assert.equal(items.length, 1);
  assert.equal(items[0].kind, 'drift');
  assert.deepEqual(items[0].target, { fleetId: 'plant', building: 1, floor: 2 });
  assert.equal(items[0].deviceCount, 20);
  assert.equal(items[0].scenario, 'hvac-failure');
  assert.equal(items[0].endsAt, new Date(T0 + 4 * MINUTE).toISOString(), 'lasts the stage');

  timers.advance(3 * MINUTE);
  items = anomalies.list({ state: 'active' }).items;
  assert.deepEqual(
    items.map((a) => a.kind),
    ['stuck'],
  );

  timers.advance(3 * MINUTE);
  assert.equal(active.status(), null, 'finished');
  assert.deepEqual(overrides.at(-1), [], 'overrides cleared at the end');
  assert.equal(service.get('hvac-failure').running, false);
});

test('a scenario on every fleet overrides all of them and skips fleets without the sensor', () => {
  const { overrides, timers, anomalies, service } = setup();
  service.start('heat-wave');
  assert.deepEqual(overrides.at(-1), [{ params: { trendEnabled: true, trendStrength: 1 } }]);
  const items = anomalies.list().items;
  assert.equal(items.length, 1, 'lab carries no temperature sensor');
  assert.equal(items[0].target.fleetId, 'plant');
  assert.equal(items[0].deviceCount, 40);
  timers.advance(2 * MINUTE);
  assert.equal(anomalies.list({ state: 'active' }).items[0].kind, 'spike');
});

test('starting another scenario stops the first and cancels its anomalies', () => {
  const { overrides, anomalies, service, active } = setup();
  service.start('heat-wave', 'plant');
  const first = anomalies.list().items[0];
  service.start('power-surge');
  assert.equal(anomalies.get(first.id).state, 'cancelled');
  assert.equal(active.status()?.name, 'power-surge');
  assert.equal(service.get('heat-wave').running, false);
  assert.equal(service.get('power-surge').running, true);
  assert.deepEqual(overrides.at(-1), [], 'power-surge starts without overrides');
  const surge = anomalies.list({ state: 'active' }).items;
  assert.deepEqual(surge.map((a) => a.target.fleetId).sort(), ['plant'], 'lab has no current');
});

test('stop: 409 when not running, 404 for an unknown scenario; clears overrides', () => {
  const { overrides, service, active, timers } = setup();
  assert.equal(thrownProblem(() => service.stop('heat-wave')).status, 409);
  assert.equal(thrownProblem(() => service.stop('nope')).status, 404);
  assert.equal(thrownProblem(() => service.start('nope')).status, 404);
  assert.equal(
    thrownProblem(() => service.start('heat-wave', 'ghost')).body.detail,
    'fleet "ghost" does not exist',
  );
  service.start('heat-wave');
  const stopped = service.stop('heat-wave');
  assert.equal(stopped.state, 'stopped');
  assert.deepEqual(overrides.at(-1), []);
  assert.equal(active.status(), null);
  const entered = overrides.length;
  timers.advance(60 * MINUTE);
  assert.equal(overrides.length, entered, 'no stage is entered after stopping');
});

test('deleting the fleet a scenario runs on stops it; shutdown clears the timer', () => {
  const { registry, service, active, timers } = setup();
  service.start('power-surge', 'plant');
  registry.delete('plant');
  assert.equal(active.status(), null);
  service.start('normal-day');
  assert.equal(timers.size, 1);
  service.onApplicationShutdown();
  assert.equal(timers.size, 0);
});

test('user-defined scenarios: created, listed, run to the end, deleted; names are unique', () => {
  const { service, timers, anomalies, active } = setup();
  const dto: CreateScenarioDto = {
    name: 'night-shift',
    stages: [
      { name: 'one', durationMs: 1000, overrides: { dataVariation: 0.2 } },
      {
        name: 'two',
        durationMs: 2000,
        anomalies: [{ kind: 'dropout', sensor: 'switch', room: 9 }],
      },
    ],
  };
  const created = service.create(dto);
  assert.equal(created.builtIn, false);
  assert.equal(created.durationMs, 3000);
  assert.deepEqual(created.stages[1].overrides, {});
  assert.equal(thrownProblem(() => service.create(dto)).status, 409);
  assert.equal(thrownProblem(() => service.create({ ...dto, name: 'heat-wave' })).status, 409);
  assert.equal(service.list().length, 5);

  service.start('night-shift');
  timers.advance(1000);
  // Room 9 is clamped to room 4 in both fleets.
  const items = anomalies.list().items;
  assert.equal(items.length, 2);
  assert.ok(items.every((a) => a.target.room === 4 && a.kind === 'dropout'));
  timers.advance(2000);
  assert.equal(active.status(), null);

  service.delete('night-shift');
  assert.equal(thrownProblem(() => service.get('night-shift')).status, 404);
  assert.equal(thrownProblem(() => service.delete('heat-wave')).status, 409);
});

test('stage anomalies are checked for kind × sensor and magnitude, naming the field', () => {
  const { service } = setup();
  const problem = thrownProblem(() =>
    service.create({
      name: 'broken',
      stages: [
        { name: 'ok', durationMs: 1000 },
        {
          name: 'bad',
          durationMs: 1000,
          anomalies: [
            { kind: 'flapping', sensor: 'temperature' },
            { kind: 'noise', sensor: 'pressure', magnitude: 50 },
          ],
        },
      ],
    }),
  );
  assert.equal(problem.status, 400);
  assert.deepEqual(
    problem.body.errors.map((e: any) => [e.field, e.rule]),
    [
      ['stages.1.anomalies.0.sensor', 'validForKind'],
      ['stages.1.anomalies.1.magnitude', 'range'],
    ],
  );
  assert.equal(service.list().length, 4, 'nothing was added');
  assert.equal(scenarioDuration(BUILTIN_SCENARIOS[3]), 70_000);
});
