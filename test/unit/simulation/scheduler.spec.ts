import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type Device, Fleet } from '../../../src/model/fleet.js';
import { FakeClock } from '../../support/fake.clock.js';
import { phaseSorted } from '../../../src/model/phase.js';
import { phaseOf, phaseOrder, Scheduler } from '../../../src/simulation/scheduler.js';

function fleet(deviceCount: number, intervalMs: number, id = 'f'): Fleet {
  return new Fleet({
    id,
    name: id,
    deviceCount,
    intervalMs,
    sensors: ['temperature'],
    layout: { buildings: 1, floorsPerBuilding: 1, roomsPerFloor: 10 },
    seed: 1,
  });
}

/** Readings a fleet is due to emit in the first `horizonMs` of its schedule (ends included). */
function due(f: Fleet, horizonMs: number): number {
  let n = 0;
  for (const d of f.devices)
    n += Math.floor((horizonMs - phaseOf(d.index) * f.intervalMs) / f.intervalMs) + 1;
  return n;
}

interface Emission {
  device: Device;
  at: number;
  now: number;
}

function harness(f: Fleet[], tickMs = 10) {
  const clock = new FakeClock(1_000_000);
  const out: Emission[] = [];
  let accept = () => true;
  const scheduler = new Scheduler(
    clock,
    (_fleet, device, at) => {
      if (!accept()) return false;
      out.push({ device, at, now: clock.now() });
      return true;
    },
    { tickMs },
  );
  for (const x of f) scheduler.add(x);
  const run = (ms: number) => {
    const end = clock.time + ms;
    while (clock.time < end) scheduler.tick(clock.advance(tickMs));
  };
  /** Resizes a fleet as the fleet service does: the fleet, then its schedule. */
  const resize = (fleet: Fleet, devices: number) => {
    fleet.resize(devices);
    scheduler.resized(fleet);
  };
  return { clock, out, scheduler, run, resize, setAccept: (fn: () => boolean) => (accept = fn) };
}

test('phases are van der Corput: stable per ordinal and evenly spread for any count', () => {
  assert.equal(phaseOf(0), 0);
  assert.equal(phaseOf(1), 0.5);
  assert.equal(phaseOf(2), 0.25);
  assert.equal(phaseOf(3), 0.75);
  for (const n of [7, 100, 1000, 1234]) {
    const phases = Array.from({ length: n }, (_, i) => phaseOf(i)).sort((a, b) => a - b);
    let widest = 1 - phases[n - 1];
    for (let i = 1; i < n; i++) widest = Math.max(widest, phases[i] - phases[i - 1]);
    assert.ok(widest <= 2 / n + 1e-12, `widest gap ${widest} for ${n} devices`);
  }
});

test('every device emits once per interval, at its own phase, on a fake clock', () => {
  const f = fleet(1000, 1000);
  const h = harness([f]);
  h.run(3000);
  const counts = new Map<string, number>();
  for (const e of h.out) counts.set(e.device.id, (counts.get(e.device.id) ?? 0) + 1);
  assert.equal(counts.size, 1000, 'every device emitted');
  for (const d of f.devices) {
    // Due at start + phase·T + k·T for every k with that time inside the 3000 ms run.
    const expected = Math.floor((3000 - phaseOf(d.index) * 1000) / 1000) + 1;
    assert.equal(counts.get(d.id), expected, `${d.id} emitted ${counts.get(d.id)} times`);
  }
  // Successive readings of a device are exactly one interval apart in event time.
  const byDevice = new Map<string, number[]>();
  for (const e of h.out) byDevice.set(e.device.id, [...(byDevice.get(e.device.id) ?? []), e.at]);
  for (const times of byDevice.values()) {
    assert.equal(times[1] - times[0], 1000);
    assert.equal(times[2] - times[1], 1000);
  }
});

test('readings are spread evenly over the interval, with no burst at its top', () => {
  const f = fleet(1000, 1000);
  const h = harness([f], 10);
  h.run(2000);
  // 1000 devices per second: every 10 ms tick carries about 10 readings.
  const perTick = new Map<number, number>();
  for (const e of h.out) perTick.set(e.now, (perTick.get(e.now) ?? 0) + 1);
  const counts = [...perTick.values()];
  assert.ok(perTick.size >= 195, `readings left in ${perTick.size} of 200 ticks`);
  assert.ok(Math.max(...counts) <= 14, `largest tick carried ${Math.max(...counts)} readings`);
  // Nothing leaves before it is due, and on a clock that keeps up nothing is a tick late.
  for (const e of h.out) {
    assert.ok(e.at <= e.now, 'never early');
    assert.ok(e.now - e.at <= 10, 'at most one tick late');
  }
});

test('several fleets at different intervals each keep their own rate', () => {
  const a = fleet(300, 3000, 'a');
  const b = fleet(500, 100, 'b');
  const h = harness([a, b]);
  h.run(6000);
  const n = (id: string) => h.out.filter((e) => e.device.fleetId === id).length;
  assert.equal(n('a'), due(a, 6000));
  assert.equal(n('b'), due(b, 6000));
  assert.ok(Math.abs(n('b') / 6 - 5000) < 5, 'fleet b emits 5000 readings a second');
});

test('scaling keeps existing devices on their phase, with no gap and no extra reading', () => {
  const f = fleet(1000, 1000);
  const h = harness([f]);
  h.run(1500);
  h.resize(f, 5000);
  h.run(2000);
  h.resize(f, 200);
  h.run(2000);
  const times = new Map<string, number[]>();
  for (const e of h.out) times.set(e.device.id, [...(times.get(e.device.id) ?? []), e.at]);
  for (const d of f.devices) {
    const t = times.get(d.id)!;
    for (let i = 1; i < t.length; i++)
      assert.equal(t[i] - t[i - 1], 1000, `${d.id} kept its rhythm`);
    assert.ok(t.length >= 5, `${d.id} emitted ${t.length} times in 5.5 s`);
  }
  // Devices 1001 … 5000 emitted only while they existed: about two intervals.
  const added = [...times.entries()].filter(([id]) => Number(id.split('.d')[1]) > 1000);
  assert.equal(added.length, 4000);
  for (const [, t] of added) assert.ok(t.length >= 1 && t.length <= 3);
});

test('a fleet makes its devices in phase order, indexed by ordinal, the same as one by one', () => {
  assert.deepEqual(phaseSorted(0, 1000), Array.from(phaseOrder(1000).order));
  assert.deepEqual(
    phaseSorted(600, 1000),
    Array.from(phaseOrder(1000).order).filter((i) => i >= 600),
  );
  const grown = fleet(300, 1000);
  grown.resize(1000);
  const single = fleet(1, 1000);
  for (let i = 0; i < 1000; i++) {
    const d = grown.devices[i];
    assert.equal(d.index, i);
    single.resize(i + 1);
    const alone = single.devices[i];
    assert.equal(d.id, alone.id);
    assert.deepEqual(Array.from(d.deviation), Array.from(alone.deviation));
    assert.equal(d.switchOn, alone.switchOn);
    assert.equal(d.normal(), alone.normal(), `${d.id}: the same random stream`);
  }
});

test('after a shrink and a regrowth the schedule hands out the fleet’s new devices', () => {
  const f = fleet(1000, 1000);
  const h = harness([f]);
  h.run(1000);
  h.resize(f, 100);
  h.resize(f, 1000);
  h.out.length = 0;
  h.run(1000);
  assert.ok(h.out.length >= 900, `${h.out.length} readings`);
  for (const e of h.out) assert.equal(e.device, f.devices[e.device.index], e.device.id);
});

test('changing the interval keeps the position in the cycle', () => {
  const f = fleet(100, 1000);
  const h = harness([f]);
  h.run(1000);
  const before = h.out.length;
  const old = f.intervalMs;
  f.intervalMs = 500;
  h.scheduler.retimed(f, old);
  h.run(2000);
  assert.equal(h.out.length - before, 400, '100 devices at 500 ms for 2 s');
});

test('a sink that holds the schedule delays readings instead of losing them', () => {
  const f = fleet(100, 1000);
  const h = harness([f]);
  let open = false;
  h.setAccept(() => open);
  h.run(500);
  assert.equal(h.out.length, 0);
  assert.ok(h.scheduler.behind(h.clock.now()) >= 490, 'the schedule reports how far behind it is');
  open = true;
  h.run(1500);
  assert.equal(
    h.out.length,
    due(f, 2000),
    'every reading due in 2 s was taken once the sink opened',
  );
  const late = h.out.filter((e) => e.now - e.at > 100);
  assert.ok(late.length > 0, 'the held readings left late, with their scheduled time');
});

test('the schedule lag is observed once per tick and fleet: the oldest reading taken, when taken', () => {
  const clock = new FakeClock(1_000_000);
  const lags: number[] = [];
  const taken: number[] = [];
  let accept = true;
  const a = fleet(100, 1000, 'a');
  const b = fleet(50, 1000, 'b');
  const scheduler = new Scheduler(
    clock,
    (_f, _d, at) => {
      if (!accept) return false;
      taken.push(at);
      return true;
    },
    { tickMs: 10, lag: { observe: (s) => lags.push(s) } },
  );
  scheduler.add(a);
  scheduler.add(b);
  // On time: both fleets have readings due within every 100 ms tick; each lag is how long ago
  // the tick's first reading of that fleet was due.
  for (let i = 0; i < 10; i++) {
    taken.length = 0;
    lags.length = 0;
    const now = clock.advance(100);
    const result = scheduler.tick(now);
    assert.equal(lags.length, 2, `tick ${i}: one sample per fleet`);
    assert.ok(result.emitted > lags.length);
    // The two samples are the two fleets' oldest readings of the tick.
    const oldest = Math.min(...taken);
    assert.ok(lags.some((s) => Math.abs(s - (now - oldest) / 1000) < 1e-9));
    for (const s of lags) assert.ok(s >= 0 && s <= 0.1, `lag ${s}`);
  }
  // Held by backpressure: nothing taken, nothing observed; then 2 s late, then caught up.
  accept = false;
  lags.length = 0;
  scheduler.tick(clock.advance(2000));
  assert.deepEqual(lags, []);
  accept = true;
  scheduler.tick(clock.now());
  assert.equal(lags.length, 2);
  for (const s of lags) assert.ok(s > 1.9 && s <= 2.1, `lag ${s}`);
});

test(
  'a running scheduler whose tick stopped at its work budget comes straight back, however little behind',
  { timeout: 20_000 },
  async (t) => {
    // 10,000 devices all due within the last second, a tick of 10 s and no time budget: every
    // tick stops after 256 readings (its time check). Coming back only at the next tick (10 s)
    // while less than a tick behind would leave the rest for later; it must come back at once.
    const f = fleet(10_000, 1000);
    const clock = new FakeClock(1_000_000);
    let taken = 0;
    let ticks = 0;
    let done!: () => void;
    const all = new Promise<void>((resolve) => (done = resolve));
    const scheduler = new Scheduler(
      clock,
      () => {
        if (++taken === 10_000) done();
        return true;
      },
      { tickMs: 10_000, maxTickWorkMs: 0 },
    );
    scheduler.add(f);
    scheduler.start((result) => {
      ticks++;
      if (taken < 10_000) assert.ok(result.cut, `tick ${ticks} stopped at its budget`);
      assert.ok(result.behindMs < 10_000);
    });
    t.after(() => scheduler.stop());
    clock.time += 1000; // a whole cycle is due, none of it a tick late
    await all;
    assert.ok(ticks >= 10_000 / 256, `${ticks} ticks of at most 256 readings`);
  },
);
