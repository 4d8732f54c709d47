import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BackfillRun, type BackfillPlan } from '../../../src/backfill/backfill.run.js';
import { EventTimeReadings } from '../../../src/backfill/event-time.readings.js';
import { Fleet, type FleetSpec } from '../../../src/model/fleet.js';
import { type OutgoingRecord, recordValue } from '../../../src/producer/outgoing.record.js';
import {
  type PipelineSettings,
  ReadingPipeline,
} from '../../../src/simulation/reading.pipeline.js';
import { Scheduler } from '../../../src/simulation/scheduler.js';
import { FakeClock } from '../../support/fake.clock.js';

const SPEC: FleetSpec = {
  id: 'plant-a',
  name: 'Plant A',
  deviceCount: 13,
  intervalMs: 1000,
  sensors: ['temperature', 'humidity', 'pressure', 'switch', 'current'],
  layout: { buildings: 1, floorsPerBuilding: 2, roomsPerFloor: 3 },
  seed: 42,
};
const SETTINGS: PipelineSettings = {
  valueFormat: 'json',
  backpressure: 'block',
  headers: true,
  topic: 'fleetsim.readings',
  params: { dataVariation: 1, trendEnabled: true, trendStrength: 0.5, anomalyRate: 0.01 },
};
const NO_TIMINGS = { scheduleLag: { observe() {} }, serialization: { observe() {} } };
const FROM = Date.parse('2026-03-14T00:00:00.000Z');

/** A producer that takes everything and delivers at once. */
function collector() {
  const records: OutgoingRecord[] = [];
  return {
    records,
    accepting: true,
    offer(r: OutgoingRecord) {
      records.push(r);
      queueMicrotask(() => r.receipt?.delivered());
      return true;
    },
  };
}

function plan(over: Partial<BackfillPlan> = {}): BackfillPlan {
  return {
    id: 'bf-1',
    fleet: new Fleet(SPEC),
    from: FROM,
    to: FROM + 60_000,
    pace: 'max',
    settings: SETTINGS,
    anomalies: [],
    stages: [],
    ...over,
  };
}

function finished(run: BackfillRun): Promise<void> {
  return new Promise((resolve) => {
    const poll = () => (run.state === 'running' ? setTimeout(poll, 1) : resolve());
    poll();
  });
}

test('event-time readings: every device once per interval in [from, to), in time order', () => {
  const r = new EventTimeReadings(new Fleet(SPEC), FROM, FROM + 10_500);
  const seen: Array<[string, number]> = [];
  while (r.advance()) seen.push([r.device.id, r.ts]);
  assert.equal(seen.length, r.total);
  // 13 devices × 10 cycles, plus those with a phase below 0.5 in the 11th
  assert.ok(seen.length > 130 && seen.length < 143, String(seen.length));
  for (let i = 1; i < seen.length; i++) assert.ok(seen[i][1] >= seen[i - 1][1]);
  assert.ok(seen.every(([, ts]) => ts >= FROM && ts < FROM + 10_500));
});

test('a backfill from `from` gives the readings a live run started at `from` gives', async () => {
  // Live: the scheduler on a fake clock, started at FROM, run for a minute.
  const clock = new FakeClock(FROM);
  const live = collector();
  const pipeline = new ReadingPipeline(live, NO_TIMINGS, SETTINGS);
  const fleet = new Fleet(SPEC);
  const scheduler = new Scheduler(clock, pipeline.sink, { tickMs: 10, maxPerTick: 1e9 });
  scheduler.add(fleet);
  pipeline.recompute([fleet]);
  for (let t = FROM; t <= FROM + 60_000; t += 250) scheduler.tick(t);
  const liveValues = live.records
    .filter((r) => r.scheduledAt < FROM + 60_000)
    .map((r) => recordValue(r).toString());

  const out = collector();
  const run = new BackfillRun(plan(), { producer: out, now: Date.now });
  run.start();
  await finished(run);
  assert.equal(run.state, 'done');
  assert.equal(run.generated, run.total);
  assert.equal(run.total, 13 * 60);
  assert.deepEqual(
    out.records.map((r) => recordValue(r).toString()),
    liveValues,
    'same values, seq and times',
  );
  assert.ok(out.records.every((r) => r.headers?.entries['fleet-id'].toString() === 'plant-a'));
  // Its own devices: a live fleet of the same spec is left as it was.
  assert.equal(new Fleet(SPEC).devices[0].seq, 0);
});

test('anomalies and scenario stages act by event time and are labelled', async () => {
  const labels: Array<{ event: string; at: string; backfill: string | null }> = [];
  const p = plan({ to: FROM + 30_000 });
  const target = p.fleet.devices.slice(0, 2);
  p.anomalies = [
    {
      id: 'bf-1-a1',
      kind: 'spike',
      sensor: 'temperature',
      magnitude: 40,
      target: { fleetId: 'plant-a', building: 1 },
      devices: target,
      startsAt: FROM + 10_000,
      endsAt: FROM + 15_000,
    },
  ];
  p.stages = [
    {
      scenario: 'flat',
      name: 'still',
      startsAt: FROM + 20_000,
      endsAt: FROM + 25_000,
      overrides: { dataVariation: 0, trendEnabled: false, anomalyRate: 0 },
    },
  ];
  const out = collector();
  const run = new BackfillRun(p, { producer: out, now: Date.now, labels: (l) => labels.push(l) });
  run.start();
  await finished(run);
  const values = out.records.map((r) => ({
    ts: r.scheduledAt,
    json: JSON.parse(recordValue(r).toString()),
  }));
  const spiked = values.filter((v) => v.json.anomaly?.id === 'bf-1-a1');
  assert.equal(spiked.length, 2 * 5, 'two devices, five readings each');
  assert.ok(spiked.every((v) => v.ts >= FROM + 10_000 && v.ts < FROM + 15_000));
  const still = values.filter((v) => v.ts >= FROM + 20_000 && v.ts < FROM + 25_000);
  assert.ok(still.every((v) => v.json.readings.temperature === 25 || v.json.anomaly));
  assert.deepEqual(
    labels.map((l) => [l.event, l.at]),
    [
      ['injected', new Date(FROM + 10_000).toISOString()],
      ['started', new Date(FROM + 10_000).toISOString()],
      ['ended', new Date(FROM + 15_000).toISOString()],
    ],
  );
  assert.ok(labels.every((l) => l.backfill === 'bf-1'));
});

test('a backfill waits while the producer does not accept, and can be cancelled', async () => {
  const out = collector();
  out.accepting = false;
  const run = new BackfillRun(plan({ to: FROM + 86_400_000 }), { producer: out, now: Date.now });
  run.start();
  await new Promise((r) => setTimeout(r, 30));
  assert.equal(run.generated, 0, 'nothing is generated while the producer is full');
  out.accepting = true;
  while (run.generated === 0) await new Promise((r) => setTimeout(r, 1));
  assert.ok(run.generated > 0 && run.generated < run.total, `${run.generated} generated`);
  assert.equal(run.cancel(), true);
  assert.equal(run.state, 'cancelled');
  const n = run.generated;
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(run.generated, n, 'no reading after cancel');
});
