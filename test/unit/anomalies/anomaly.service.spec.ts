import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
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
setFlagsFromString('--expose-gc');

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

test('injecting puts an effect on every targeted device, in event time', () => {
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
  assert.equal(new Set(effects).size, 1, 'a spike shares one effect object');
  assert.ok(effects.every((e) => e.id === 'inj-1' && e.startsAt === T0 + 2123));
  service.inject(spike({ kind: 'stuck', magnitude: undefined }));
  const stuck = hit.map((d) => d.effects![1]);
  assert.equal(new Set(stuck).size, stuck.length, 'a stuck sensor holds its own value');

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
  assert.ok(
    room.every((d) => d.effects === null),
    'the active effect is taken off every device at once, not at its next reading',
  );
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
  assert.equal(p.status, 422);
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

test('an ended anomaly leaves every device past its end; a lagging device keeps it until it catches up', () => {
  const { fleet, service, clock } = setup();
  const a = service.inject(spike({ durationMs: 3000 }));
  const [behind, ...ahead] = fleet.devices.filter((d) => d.effects !== null);
  // Their next readings are at the end.
  for (const d of ahead) generateReading(fleet, d, T0 + 2000, PARAMS);
  generateReading(fleet, behind, T0, PARAMS); // its readings of T0+1000 and T0+2000 are due
  clock.advance(3000);
  assert.equal(service.get(a.id).state, 'ended');
  assert.ok(
    ahead.every((d) => d.effects === null),
    'taken off when the anomaly ends, without a reading',
  );
  assert.equal(behind.effects?.[0].id, a.id, 'kept for the readings still due before the end');
  generateReading(fleet, behind, T0 + 1000, PARAMS);
  assert.equal(behind.lastLabel?.id, a.id, 'a late reading before the end is still shaped');
  generateReading(fleet, behind, T0 + 2000, PARAMS);
  clock.advance(2000); // the next try
  assert.equal(behind.effects, null);
  assert.equal(behind.lastLabel, null, 'no device refers to the anomaly any more');
  assert.equal(clock.size, 0, 'no timer is left');
});

test('an anomaly forgotten from the history leaves no effect on a device that never read', () => {
  const { fleet, service, clock } = setup();
  const first = service.inject(spike({ durationMs: 1000 }));
  const room = fleet.devices.filter((d) => d.effects !== null);
  clock.advance(1000);
  assert.ok(
    room.every((d) => d.effects?.[0].id === first.id),
    'no reading passed its end yet',
  );
  for (let i = 0; i < ENDED_KEPT; i++) {
    service.inject(spike({ durationMs: 1000, target: { fleetId: 'plant', floor: 1 } }));
    clock.advance(1000);
  }
  service.list();
  assert.equal(thrownProblem(() => service.get(first.id)).status, 404);
  assert.ok(
    room.every((d) => d.effects === null),
    'the evicted anomaly took its effects along',
  );
});

test('100 anomalies of 100,000 listed devices each: stored compactly, lists carry 100 ids each', () => {
  const registry = new FleetRegistry();
  const fleet = new Fleet({
    id: 'huge',
    name: 'huge',
    deviceCount: 100_000,
    intervalMs: 3_600_000,
    sensors: ['temperature'],
    layout: { buildings: 10, floorsPerBuilding: 10, roomsPerFloor: 10 },
    seed: 1,
  });
  registry.add(fleet);
  const clock = new FakeClock(T0);
  const service = new AnomalyService(registry, clock, NO_LABELS);
  // Listed in reverse, each twice: answers list them in ordinal order, once each.
  const ids = fleet.devices.map((d) => d.id).reverse();
  const deviceIds = [...ids, ...ids.slice(0, 10)];
  const gc = runInNewContext('gc') as () => void;
  gc();
  const before = process.memoryUsage().heapUsed;
  const injected: string[] = [];
  for (let i = 0; i < 100; i++) {
    const a = service.inject({
      target: { fleetId: 'huge', deviceIds },
      sensor: 'temperature',
      kind: 'spike',
      durationMs: 3_600_000,
    });
    injected.push(a.id);
    // limits.maxAnomalyDevices (500,000) lets 5 of them be live at once: cancel the oldest.
    if (injected.length > 4) service.cancel(injected[injected.length - 5]);
  }
  gc();
  const grown = process.memoryUsage().heapUsed - before;
  assert.ok(
    grown < 64 * 1024 * 1024,
    `100 anomalies of 100,000 devices hold ${(grown / 1048576).toFixed(0)} MB`,
  );
  assert.ok(
    fleet.devices.every((d) => d.effects?.length === 4),
    'cancelled ones left the devices',
  );

  const list = service.list();
  assert.equal(list.items.length, 100);
  const size = JSON.stringify(list).length;
  assert.ok(size < 1024 * 1024, `the list is ${size} bytes`);
  for (const item of list.items) {
    assert.equal(item.deviceCount, 100_000);
    assert.equal(item.devices.length, 100);
    assert.equal(item.target.deviceIds!.length, 100);
    assert.equal(item.deviceIdsTruncated, true);
  }
  assert.deepEqual(
    list.items[0].target.deviceIds,
    fleet.devices.slice(0, 100).map((d) => d.id),
  );
  const one = service.get(injected[99]);
  assert.equal(one.target.deviceIds!.length, 100_000, 'GET by id has every id');
  assert.equal(one.target.deviceIds![99_999], fleet.devices[99_999].id);
  assert.equal(one.deviceIdsTruncated, undefined);
  for (const id of injected.slice(-4)) service.cancel(id);
  assert.ok(fleet.devices.every((d) => d.effects === null));
});
