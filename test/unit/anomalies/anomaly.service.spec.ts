import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Logger } from '@nestjs/common';
import { Fleet } from '../../../src/model/fleet.js';
import { FleetRegistry } from '../../../src/simulation/fleet.registry.js';
import {
  type GenerationParams,
  generateReading,
} from '../../../src/simulation/reading.generator.js';
import {
  ENDED_KEPT,
  type InjectRequest,
  AnomalyService,
} from '../../../src/anomalies/anomaly.service.js';
import { FakeClock } from '../../support/fake.clock.js';
import { thrownProblem } from '../../support/problems.js';
import type { AnomalyLabels } from '../../../src/anomalies/anomaly.labels.js';

/** No label topic. */
const NO_LABELS = { enabled: false, publish() {} } as unknown as AnomalyLabels;

Logger.overrideLogger(false);

const PARAMS: GenerationParams = {
  dataVariation: 1,
  trendEnabled: false,
  trendStrength: 0,
  anomalyRate: 0,
};
const T0 = Date.UTC(2026, 5, 10, 12, 0, 0);

function setup(sensors: Fleet['sensors'] = ['temperature', 'humidity', 'switch', 'current']) {
  const registry = new FleetRegistry();
  const fleet = new Fleet({
    id: 'plant',
    name: 'plant',
    deviceCount: 40,
    intervalMs: 1000,
    sensors,
    layout: { buildings: 1, floorsPerBuilding: 2, roomsPerFloor: 5 },
    seed: 3,
  });
  registry.add(fleet);
  const clock = new FakeClock(T0);
  const service = new AnomalyService(registry, clock, NO_LABELS);
  return { registry, fleet, service, clock };
}

const spike = (over: Partial<InjectRequest> = {}): InjectRequest => ({
  target: { fleetId: 'plant', building: 1, floor: 2, room: 3 },
  sensor: 'temperature',
  kind: 'spike',
  magnitude: 40,
  durationMs: 5000,
  ...over,
});

test('injecting puts one effect object per targeted device, in event time', () => {
  const { fleet, service, clock } = setup();
  clock.advance(123);
  const a = service.inject(spike({ startInMs: 2000 }));
  assert.equal(a.id, 'inj-1');
  assert.equal(a.state, 'scheduled');
  assert.equal(a.deviceCount, 4);
  assert.equal(a.magnitude, 40);
  assert.equal(a.startsAt, new Date(T0 + 123 + 2000).toISOString());
  assert.equal(a.endsAt, new Date(T0 + 123 + 7000).toISOString());
  const hit = fleet.devices.filter((d) => d.effects !== null);
  assert.deepEqual(
    hit.map((d) => d.id),
    a.devices,
  );
  assert.ok(hit.every((d) => JSON.stringify(d.location) === '{"building":1,"floor":2,"room":3}'));
  const effects = hit.map((d) => d.effects![0]);
  assert.equal(new Set(effects).size, effects.length, 'no effect object is shared');
  assert.ok(effects.every((e) => e.id === 'inj-1' && e.startsAt === T0 + 2123));

  clock.advance(2000);
  assert.equal(service.get('inj-1').state, 'active');
  clock.advance(5000);
  assert.equal(service.get('inj-1').state, 'ended');
});

test('readings in [startsAt, endsAt) of the targeted devices are shaped and labelled', () => {
  const { fleet, service } = setup();
  service.inject(spike({ durationMs: 3000 }));
  const labelled = new Map<string, number[]>();
  for (let k = -2; k < 6; k++) {
    for (const d of fleet.devices) {
      const ts = T0 + k * 1000;
      generateReading(fleet, d, ts, PARAMS);
      if (d.lastLabel) {
        assert.equal(d.lastLabel.id, 'inj-1');
        assert.ok(d.values[0] > 50, `spiked temperature ${d.values[0]}`);
        labelled.set(d.id, [...(labelled.get(d.id) ?? []), k]);
      }
    }
  }
  assert.equal(labelled.size, 4);
  for (const ks of labelled.values()) assert.deepEqual(ks, [0, 1, 2]);
  assert.ok(
    fleet.devices.every((d) => d.effects === null),
    'expired effects are pruned',
  );
});

test('the default magnitude applies when none is given; kinds without one report null', () => {
  const { service } = setup();
  assert.equal(service.inject(spike({ magnitude: undefined })).magnitude, 30);
  // JSON null in optional fields reads as "not given".
  const nulls = service.inject(
    spike({
      magnitude: null as never,
      target: { fleetId: 'plant', building: null as never, floor: 1 },
    }),
  );
  assert.equal(nulls.magnitude, 30);
  assert.deepEqual(nulls.target, { fleetId: 'plant', floor: 1 });
  assert.equal(nulls.deviceCount, 20);
  assert.equal(
    service.inject(spike({ kind: 'stuck', magnitude: undefined, sensor: 'switch' })).magnitude,
    null,
  );
});

test('cancelling ends an active anomaly now and drops a scheduled one', () => {
  const { fleet, service, clock } = setup();
  const active = service.inject(spike());
  const scheduled = service.inject(
    spike({ startInMs: 60_000, target: { fleetId: 'plant', building: 1, floor: 1 } }),
  );
  clock.advance(1500);
  service.cancel(active.id);
  service.cancel(scheduled.id);
  const a = service.get(active.id);
  assert.equal(a.state, 'cancelled');
  assert.equal(a.endsAt, new Date(T0 + 1500).toISOString());
  const s = service.get(scheduled.id);
  assert.equal(s.state, 'cancelled');
  assert.equal(s.endsAt, s.startsAt, 'a cancelled scheduled anomaly has an empty window');

  const room = fleet.devices.filter((d) => d.location.floor === 2 && d.location.room === 3);
  assert.ok(room.every((d) => d.effects!.every((e) => e.endsAt === T0 + 1500)));
  const floor1 = fleet.devices.filter((d) => d.location.floor === 1);
  assert.ok(
    floor1.every((d) => d.effects === null),
    'the scheduled effect is removed',
  );
  // A reading at the cancel time is normal again.
  generateReading(fleet, room[0], T0 + 1500, PARAMS);
  assert.equal(room[0].lastLabel, null);

  // Cancelling again changes nothing.
  service.cancel(active.id);
  assert.equal(service.get(active.id).endsAt, a.endsAt);
});

test('bad requests: kind × sensor, magnitude, fleet, sensor carried, target matching nothing', () => {
  const { service } = setup(['temperature', 'switch']);
  let p = thrownProblem(() => service.inject(spike({ sensor: 'switch' })));
  assert.equal(p.status, 400);
  assert.equal(p.body.errors[0].rule, 'validForKind');

  p = thrownProblem(() => service.inject(spike({ magnitude: 80 })));
  assert.equal(p.status, 400);
  assert.deepEqual(p.body.errors, [
    {
      field: 'magnitude',
      rule: 'range',
      message: 'magnitude of a spike on temperature must be between -70 and 70 °C, not 0',
    },
  ]);

  p = thrownProblem(() => service.inject(spike({ target: { fleetId: 'nope' } })));
  assert.equal(p.status, 404);
  assert.equal(p.body.detail, 'fleet "nope" does not exist');

  p = thrownProblem(() => service.inject(spike({ sensor: 'humidity' })));
  assert.equal(p.status, 400);
  assert.deepEqual(p.body.errors, [
    {
      field: 'sensor',
      rule: 'carriedByFleet',
      message: 'fleet plant does not carry sensor humidity; its devices carry temperature, switch',
    },
  ]);

  p = thrownProblem(() => service.inject(spike({ target: { fleetId: 'plant', building: 2 } })));
  assert.equal(p.status, 422);
  assert.equal(
    p.body.detail,
    'target matches no device: there is no device in building 2 of fleet plant',
  );
  assert.equal(p.body.errors[0].rule, 'matchesDevices');

  p = thrownProblem(() =>
    service.inject(spike({ target: { fleetId: 'plant', deviceIds: ['plant.b1.f1.r1.d1', 'x'] } })),
  );
  assert.equal(p.status, 422);
  assert.equal(p.body.errors[0].field, 'target.deviceIds');
  assert.equal(service.list().items.length, 0, 'nothing was injected');
});

test('the list keeps live anomalies and the last ended ones, newest first', () => {
  const { service, clock } = setup();
  const live = service.inject(spike({ durationMs: 3_600_000 }));
  for (let i = 0; i < ENDED_KEPT + 20; i++) {
    service.inject(spike({ durationMs: 1000 }));
    clock.advance(1000);
  }
  const { items } = service.list();
  assert.equal(items.length, ENDED_KEPT + 1);
  assert.ok(items.some((a) => a.id === live.id && a.state === 'active'));
  assert.equal(items[0].id, `inj-${ENDED_KEPT + 21}`, 'newest first');
  assert.equal(service.list({ state: 'active' }).items.length, 1);
  assert.equal(service.list({ fleetId: 'other' }).items.length, 0);
  assert.equal(
    thrownProblem(() => service.get('inj-2')).body.detail,
    'anomaly "inj-2" does not exist',
  );
});

test('deleting a fleet forgets its anomalies', () => {
  const { registry, service } = setup();
  const a = service.inject(spike());
  registry.delete('plant');
  assert.equal(service.list().items.length, 0);
  assert.equal(thrownProblem(() => service.get(a.id)).status, 404);
});

test('random anomalies acting now are counted', () => {
  const { fleet, service } = setup();
  assert.equal(service.list().random.active, 0);
  const rate = { ...PARAMS, anomalyRate: 0.1 };
  for (let k = 0; k < 20; k++)
    for (const d of fleet.devices) generateReading(fleet, d, T0 + k * 1000 - 20_000, rate);
  const expected = fleet.devices.filter((d) =>
    d.effects?.some((e) => e.id.startsWith('random-') && e.startsAt <= T0 && T0 < e.endsAt),
  ).length;
  assert.ok(expected > 0, 'some random anomaly is going on at T0');
  assert.equal(service.list().random.active, expected);
});
