/**
 * Stop and start of an anchored (cluster mode) simulation, with the pieces the cluster service
 * puts together: the run state of the control topic (run.state.ts), the schedule shift and
 * hold of the scheduler, and seq from the slot (slots.ts) through a gate like the cluster's.
 * Members are simulated as schedulers with their own copy of the fleet, on one fake clock.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  INITIAL_RUN_STATE,
  type RunState,
  sharedAnchor,
  startAt,
  stopAt,
  wallAnchor,
} from '../../../src/cluster/run.state.js';
import { slotIndex } from '../../../src/cluster/slots.js';
import { Fleet } from '../../../src/model/fleet.js';
import { Scheduler } from '../../../src/simulation/scheduler.js';
import { FakeClock } from '../../support/fake.clock.js';

const INTERVAL = 500;
const DEVICES = 40;
const T0 = 1_000_000;

interface Reading {
  device: number;
  seq: number;
  at: number;
}

/** One member: its copy of the fleet (shared anchor), its scheduler, the devices it owns. */
class Member {
  readonly fleets = new Map<string, Fleet>();
  readonly scheduler: Scheduler;
  run: RunState = INITIAL_RUN_STATE;
  gaps = 0;

  constructor(
    readonly clock: FakeClock,
    readonly owns: (device: number) => boolean,
    readonly out: Map<string, Reading[]>,
  ) {
    // The cluster's gate: owned devices only, seq from the slot, never backwards.
    this.scheduler = new Scheduler(
      clock,
      (fleet, device, due) => {
        if (!this.owns(device.index)) return true;
        const k = slotIndex(fleet, device, due);
        if (k < device.seq) return true;
        if (k > device.seq) this.gaps += k - device.seq;
        device.seq = k + 1;
        const key = `${fleet.id}/${device.index}`;
        out.set(key, [...(out.get(key) ?? []), { device: device.index, seq: k, at: due }]);
        return true;
      },
      { tickMs: 10 },
    );
    this.scheduler.resumeWithinMs = 17_000;
  }

  /** Applies a fleet record (anchor on the shared paused-time clock). */
  addFleet(id: string, sharedAnchorMs: number, count = DEVICES): void {
    const fleet = new Fleet({
      id,
      name: id,
      deviceCount: count,
      intervalMs: INTERVAL,
      sensors: ['temperature'],
      layout: { buildings: 1, floorsPerBuilding: 1, roomsPerFloor: 4 },
      seed: 1,
      anchorMs: wallAnchor(this.run, sharedAnchorMs),
    });
    this.fleets.set(id, fleet);
    this.scheduler.add(fleet);
  }

  /** Applies a `simulation:state` record, as ClusterService.applyRun does. */
  apply(next: RunState, producedNothing = false): void {
    const shift = next.pausedMs - this.run.pausedMs;
    this.run = next;
    if (shift !== 0) {
      for (const f of this.fleets.values()) f.anchorMs! += shift;
      this.scheduler.shift(shift);
    }
    if (next.running) {
      this.scheduler.pausedAt = undefined;
      this.scheduler.realign(this.clock.now()); // what start() does to anchored schedules
      this.scheduler.running = true;
    } else {
      this.scheduler.pausedAt = next.stoppedAt;
      if (producedNothing && next.stoppedAt !== undefined) this.scheduler.holdAt(next.stoppedAt);
      this.scheduler.running = false;
    }
  }

  tick(): void {
    if (this.scheduler.running) this.scheduler.tick(this.clock.now());
  }
}

function cluster(n: number) {
  const clock = new FakeClock(T0);
  const out = new Map<string, Reading[]>();
  const members = Array.from({ length: n }, (_, i) => new Member(clock, (d) => d % n === i, out));
  for (const m of members) m.scheduler.running = true;
  const run = (ms: number) => {
    const end = clock.time + ms;
    while (clock.time < end) {
      clock.advance(10);
      for (const m of members) m.tick();
    }
  };
  return { clock, out, members, run };
}

/** Every device's seqs: 0, 1, 2, … in event-time order, once each. */
function assertContinuous(out: Map<string, Reading[]>, devices: number): void {
  assert.equal(out.size, devices, 'every device sent');
  for (const [key, readings] of out) {
    readings.forEach((r, i) => assert.equal(r.seq, i, `${key}: reading ${i} has seq ${r.seq}`));
    for (let i = 1; i < readings.length; i++) {
      assert.ok(readings[i].at > readings[i - 1].at, `${key}: event time rises with seq`);
    }
  }
}

test('two members, stop applied 150 ms apart, start 5 s later: every seq continues with no gap', () => {
  const { clock, out, members, run } = cluster(2);
  const [a, b] = members;
  for (const m of members) m.addFleet('f', T0);
  run(2_300);
  const stopped = stopAt(a.run, clock.now());
  a.apply(stopped);
  run(150);
  b.apply(stopped);
  run(5_000);
  const before = new Map([...out].map(([k, r]) => [k, r.length]));
  const started = startAt(stopped, clock.now());
  assert.ok(started.pausedMs >= 5_000);
  a.apply(started);
  run(120);
  b.apply(started);
  run(2_000);
  assertContinuous(out, DEVICES);
  assert.equal(a.gaps + b.gaps, 0);
  for (const [key, readings] of out) {
    // The stopped time is not in the stream: the first reading after the start follows the
    // last before it by about one interval plus the stopped time.
    const n = before.get(key)!;
    assert.ok(readings.length > n + 2, `${key} streamed again`);
    const step = readings[n].at - readings[n - 1].at;
    assert.ok(Math.abs(step - INTERVAL - started.pausedMs) < 1e-6, `${key}: step ${step}`);
  }
  // Both members hold the same anchor: the same slot has the same seq everywhere.
  assert.equal(a.fleets.get('f')!.anchorMs, b.fleets.get('f')!.anchorMs);
});

test('a fleet created while stopped begins at seq 0 at the start; stops add up', () => {
  const { clock, out, members, run } = cluster(2);
  for (const m of members) m.addFleet('old', T0);
  run(1_000);
  let state = stopAt(members[0].run, clock.now());
  for (const m of members) m.apply(state);
  run(3_000);
  // Created while stopped: anchored where the schedules stand (the stop), on the shared clock.
  const anchor = sharedAnchor(state, state.stoppedAt!);
  for (const m of members) m.addFleet('new', anchor);
  run(3_000);
  state = startAt(state, clock.now());
  for (const m of members) m.apply(state);
  run(1_200);
  state = stopAt(state, clock.now());
  for (const m of members) m.apply(state);
  run(10_000);
  state = startAt(state, clock.now());
  for (const m of members) m.apply(state);
  run(1_200);
  assertContinuous(out, 2 * DEVICES);
  const first = [...out].filter(([k]) => k.startsWith('new/')).map(([, r]) => r[0]);
  assert.ok(first.every((r) => r.seq === 0));
  assert.equal(members[0].gaps + members[1].gaps, 0);
});

test('a member that joins while stopped goes back to the stop and takes over without a gap', () => {
  const { clock, out, members, run } = cluster(1);
  const [a] = members;
  a.addFleet('f', T0);
  run(2_000);
  const stopped = stopAt(a.run, clock.now());
  a.apply(stopped);
  run(30_000);
  // b starts now: it applies the fleet record first (placed at its start), then the stop.
  const b = new Member(clock, () => true, out);
  members.push(b);
  b.addFleet('f', T0);
  b.apply(stopped, true);
  assert.ok(b.scheduler.nextDue('f')! <= a.scheduler.nextDue('f')!);
  assert.ok(b.scheduler.nextDue('f')! >= stopped.stoppedAt!);
  // a leaves; b takes every device over from a's positions (seq as a left them).
  for (const [i, d] of b.fleets.get('f')!.devices.entries()) {
    d.seq = a.fleets.get('f')!.devices[i].seq;
  }
  members.shift();
  const started = startAt(stopped, clock.now());
  b.apply(started);
  run(2_000);
  assertContinuous(out, DEVICES);
  assert.equal(b.gaps, 0);
});

test('a start that moved nothing (an older record) resumes at now past resumeWithinMs, and counts the gap', () => {
  const { clock, out, members, run } = cluster(1);
  const [a] = members;
  a.addFleet('f', T0);
  run(1_000);
  a.apply({ running: false, pausedMs: 0 });
  run(60_000);
  a.apply({ running: true, pausedMs: 0 });
  const resumedAt = clock.now();
  run(1_000);
  assert.ok(a.gaps > 0);
  for (const readings of out.values()) {
    const late = readings.filter((r) => r.at > T0 + 1_000 && r.at < resumedAt);
    assert.equal(late.length, 0, 'the slots of the stop are not sent late');
  }
});
