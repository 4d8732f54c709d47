/**
 * ClusterService itself (not a copy of its logic) around stop/start and takeovers: the real
 * service and FleetService, a real Scheduler, and fakes for the control store (records are
 * applied when written, or at the next sync when another member wrote them), the ownership
 * group and the producer. Date is mocked: every time below is on one clock.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ClusterService, type HandoverRecord } from '../../../src/cluster/cluster.service.js';
import { type RunState, startAt, stopAt } from '../../../src/cluster/run.state.js';
import type { ConfigService } from '../../../src/config/config.service.js';
import { FleetService, type FleetState } from '../../../src/devices/fleet.service.js';
import type { Device, Fleet } from '../../../src/model/fleet.js';
import { FleetRegistry } from '../../../src/simulation/fleet.registry.js';
import { Scheduler } from '../../../src/simulation/scheduler.js';

const INTERVAL = 500;
const DEVICES = 40;
const PARTITIONS = 4;
const T0 = 1_700_000_000_000;

interface Reading {
  device: number;
  seq: number;
  at: number;
}

/** One member: the real ClusterService with its dependencies faked. */
class Member {
  readonly registry = new FleetRegistry();
  readonly scheduler: Scheduler;
  readonly cluster: ClusterService;
  readonly readings: Reading[] = [];
  private gate?: (fleet: Fleet, device: Device, due: number) => boolean;
  /** Records another member wrote: in the topic, applied here at the next sync. */
  readonly pending: Array<{ key: string; value: unknown }> = [];
  /** Records this member wrote. */
  readonly written: Array<{ key: string; value: unknown }> = [];
  assigned = new Set<number>();
  alive: (groupMember: string) => boolean = () => false;
  onFlush: () => Promise<void> = async () => {};
  /** The producer: `accepting` false is a full buffer (backpressure `block`). */
  readonly producer = {
    accepting: true,
    flush: () => this.onFlush(),
    topicInfo: () => ({ partitions: PARTITIONS }),
  };
  private offset = 0;
  private loadDone!: () => void;

  constructor() {
    const clock = { now: () => Date.now(), setTimeout: () => 0, clearTimeout: () => {} };
    this.scheduler = new Scheduler(
      clock,
      // As the pipeline's sink under backpressure `block`: held while the producer is full.
      (fleet, device, due) => {
        if (!this.producer.accepting) return false;
        if (this.gate && !this.gate(fleet, device, due)) return true;
        this.emit(device);
        return true;
      },
      { tickMs: 10 },
    );
    const simulation = {
      scheduler: this.scheduler,
      setGate: (g: typeof this.gate) => (this.gate = g),
      emit: (_f: Fleet, device: Device) => this.emit(device),
      applyRunning: (running: boolean) => {
        if (running && !this.scheduler.running) {
          this.scheduler.realign(Date.now()); // what Scheduler.start does to anchored schedules
          this.scheduler.running = true;
        } else if (!running) this.scheduler.running = false;
      },
      attach: (fleet: Fleet) => {
        this.registry.add(fleet);
        this.scheduler.add(fleet);
      },
      detach: (id: string) => {
        this.scheduler.remove(id);
        this.registry.delete(id);
      },
      resized: (fleet: Fleet) => this.scheduler.resized(fleet),
      retimed: (fleet: Fleet, before: number, anchor?: number) =>
        this.scheduler.retimed(fleet, before, anchor),
    };
    const config = {
      config: {
        cluster: {
          enabled: true,
          name: 'test',
          sessionTimeoutMs: 10_000,
          handoverTimeoutMs: 5_000,
          checkpointMs: 1_000,
        },
        simulation: { autoStart: true, tickMs: 10 },
        producer: { shutdownFlushMs: 2_000, backpressure: 'block' },
        kafka: { clientId: 'test', topic: 'readings', topicPartitions: PARTITIONS },
        server: { requireIfMatch: false },
      },
      sources: new Map(),
    } as unknown as ConfigService;
    const producer = this.producer;
    this.cluster = new ClusterService(
      config,
      { connect: true, brokers: [] } as never,
      simulation as never,
      producer as never,
      this.registry,
      {} as never,
    );
    new FleetService(this.registry, simulation as never, producer as never, config, this.cluster);
    const self = this.internals;
    // What join() sets, and simulation.autoStart: running from the boot on.
    this.scheduler.resumeWithinMs = self.takeoverSpan();
    this.scheduler.running = true;
    self.partitions = PARTITIONS;
    self.partitionsAtJoin = PARTITIONS;
    self.startedAt = Date.now();
    simulation.setGate(self.gate);
    self.group = {
      assigned: () => this.assigned,
      alive: async (id: string) => this.alive(id),
      memberId: 'me',
    };
    self.store = {
      write: async (kind: string, id: string, value: unknown) => {
        this.written.push({ key: `${kind}:${id}`, value });
        await this.applyRecord(`${kind}:${id}`, value);
      },
      sync: async () => {
        while (this.pending.length) {
          const r = this.pending.shift()!;
          await this.applyRecord(r.key, r.value);
        }
      },
    };
    void self.load(new Promise<void>((resolve) => (this.loadDone = resolve)));
  }

  /** The service's private members. */
  get internals(): Record<string, any> {
    return this.cluster as unknown as Record<string, any>;
  }

  private emit(device: Device): void {
    this.readings.push({ device: device.index, seq: device.seq, at: 0 });
    device.seq++; // as generateReading does
  }

  /** Applies a record of the control topic, as the store does. */
  async applyRecord(key: string, value: unknown): Promise<void> {
    const colon = key.indexOf(':');
    await this.internals.apply({
      kind: key.slice(0, colon),
      id: key.slice(colon + 1),
      value,
      offset: this.offset++,
    });
  }

  /** The control topic has been read to its end. */
  async loaded(): Promise<void> {
    this.loadDone();
    await this.internals.loaded;
  }

  /**
   * The group assigns `partitions`; resolves once they are taken over and the readings their
   * takeovers owe are sent (unless stopped: those wait for the start).
   */
  async assign(partitions: number[]): Promise<void> {
    this.assigned = new Set(partitions);
    this.internals.reconcile();
    while (this.internals.acquiring.size) await new Promise((r) => setImmediate(r));
    await this.drained();
  }

  /**
   * Resolves once the owed readings due to be sent now are sent (they go out paced), or the
   * producer takes no more.
   */
  async drained(): Promise<void> {
    while (this.internals.drainTimer !== undefined && this.producer.accepting) {
      await new Promise((r) => setImmediate(r));
    }
  }

  tick(): void {
    if (this.scheduler.running) this.scheduler.tick(Date.now());
  }

  fleet(): Fleet {
    return this.registry.get('f')!;
  }
}

function fleetRecord(anchorMs: number): FleetState {
  return {
    id: 'f',
    name: 'f',
    deviceCount: DEVICES,
    intervalMs: INTERVAL,
    sensors: ['temperature'],
    layout: { buildings: 1, floorsPerBuilding: 1, roomsPerFloor: 4 },
    seed: 1,
    createdAt: new Date(T0).toISOString(),
    anchorMs,
  };
}

/** A clean handover record of another member that stood at `position` (wall clock of `run`). */
function handover(run: RunState, at: number, position: number, clean = true): HandoverRecord {
  return {
    member: 'old',
    groupMember: 'old-g',
    clean,
    at,
    fleets: { f: position },
    pausedMs: run.pausedMs,
    clock: run.running || run.stoppedAt === undefined ? at : run.stoppedAt,
  };
}

/** Seq every device should continue from: slot of `position` on the fleet anchored at `anchorWall`. */
function seqAt(position: number, anchorWall: number): number {
  return Math.ceil((position - anchorWall) / INTERVAL - 1e-9);
}

/**
 * Asserts that every device sent readings, the first at about seq `first`, then each seq once
 * and in order; returns each device's seqs.
 */
function assertStreamsFrom(m: Member, first: number): Map<number, number[]> {
  const byDevice = new Map<number, number[]>();
  for (const r of m.readings) byDevice.set(r.device, [...(byDevice.get(r.device) ?? []), r.seq]);
  assert.equal(byDevice.size, DEVICES);
  for (const [d, seqs] of byDevice) {
    assert.ok(seqs[0] >= first - 1 && seqs[0] <= first + 1, `device ${d} starts at ${seqs[0]}`);
    seqs.forEach((s, i) => assert.equal(s, seqs[0] + i, `device ${d}: no gap, no repeat`));
  }
  return byDevice;
}

test('a member that joins a running cluster after a stop/start takes over at now: no future-dated flood, then streams', async (t) => {
  t.mock.timers.enable({ apis: ['Date'], now: T0 });
  const P = 60_000;
  // The fleet was created 100 s before the stop; the cluster stopped for P and runs again.
  const shared = T0 - 200_000;
  const run: RunState = { running: true, pausedMs: P };
  const wallAnchor = shared + P;
  // The old owner left cleanly 1 s ago, its schedule at about then.
  const position = T0 - 1_000;
  const m = new Member();
  // Compacted: the fleet record comes before the last simulation:state record.
  await m.applyRecord('fleet:f', fleetRecord(shared));
  await m.applyRecord('simulation:state', run);
  for (let p = 0; p < PARTITIONS; p++) {
    await m.applyRecord(`handover:${p}`, handover(run, T0 - 1_000, position));
  }
  await m.loaded();
  assert.equal(m.fleet().anchorMs, wallAnchor);
  const due = m.scheduler.nextDue('f')!;
  assert.ok(due <= T0 + INTERVAL, `the schedule stands at now, not ${due - T0} ms ahead`);
  await m.assign([0, 1, 2, 3]);
  // Every device sent its slots of the last second late (about 2 each), none dated later.
  assert.ok(m.readings.length <= 3 * DEVICES, `${m.readings.length} readings sent late`);
  const first = seqAt(position, wallAnchor);
  for (const r of m.readings) assert.ok(r.seq >= first - 1 && r.seq <= first + 2);
  // And it streams on at once.
  const before = m.readings.length;
  for (let i = 0; i < 100; i++) {
    t.mock.timers.tick(10);
    m.tick();
  }
  assert.ok(m.readings.length - before >= DEVICES, 'streams after the takeover');
  assert.equal(m.scheduler.behind(Date.now()), 0);
});

test('a member that joins while stopped, assigned before the stop is applied, sends nothing until the start', async (t) => {
  t.mock.timers.enable({ apis: ['Date'], now: T0 });
  const P = 60_000;
  const shared = T0 - 200_000;
  const stopped: RunState = { running: false, pausedMs: P, stoppedAt: T0 - 30_000 };
  const m = new Member();
  await m.applyRecord('fleet:f', fleetRecord(shared));
  // The group assigns the partitions while the control topic is still being read.
  const assigned = m.assign([0, 1, 2, 3]);
  await m.applyRecord('simulation:state', stopped);
  for (let p = 0; p < PARTITIONS; p++) {
    await m.applyRecord(
      `handover:${p}`,
      handover(stopped, stopped.stoppedAt!, stopped.stoppedAt! + 100),
    );
  }
  await m.loaded();
  await assigned;
  assert.equal(m.readings.length, 0, 'nothing sent while stopped');
  assert.ok(m.scheduler.nextDue('f')! <= stopped.stoppedAt! + INTERVAL);
  // The start: the stream continues from the old owner's position, with no gap.
  t.mock.timers.tick(5_000);
  const started = startAt(stopped, Date.now());
  await m.applyRecord('simulation:state', started);
  // The schedule reaches the devices before the drain's first turn: the gate sends what each
  // owes first.
  for (let i = 0; i < 100; i++) {
    t.mock.timers.tick(10);
    m.tick();
  }
  const first = seqAt(stopped.stoppedAt! + 100, shared + P);
  assertStreamsFrom(m, first);
});

test('a clean release keeps positions and pausedMs of one moment, even when a start is applied during the flush', async (t) => {
  t.mock.timers.enable({ apis: ['Date'], now: T0 });
  const m = new Member();
  await m.applyRecord('fleet:f', fleetRecord(T0));
  await m.loaded();
  await m.assign([0, 1, 2, 3]);
  for (let i = 0; i < 200; i++) {
    t.mock.timers.tick(10);
    m.tick();
  }
  const stopped = stopAt(m.internals.run as RunState, Date.now());
  await m.applyRecord('simulation:state', stopped);
  t.mock.timers.tick(10_000);
  const started = startAt(stopped, Date.now());
  // The group takes the partitions away; the start is applied while the producer flushes.
  m.onFlush = () => m.applyRecord('simulation:state', started);
  m.assigned = new Set();
  await m.internals.release([0, 1, 2, 3]);
  const records = m.written.filter(
    (r) => r.key.startsWith('handover:') && (r.value as HandoverRecord).clean,
  );
  assert.equal(records.length, PARTITIONS);
  const after = m.scheduler.nextDue('f')!;
  for (const { value } of records) {
    const r = value as HandoverRecord;
    // What a new owner reads: the position moved on by the stopped time since the record.
    const stood = r.fleets.f + (started.pausedMs - (r.pausedMs ?? 0));
    assert.equal(stood, after, 'the record says where the schedule stands');
  }
});

test('a takeover owing more than the producer takes sends it as room frees, then the schedule: each device in seq order, none twice, none skipped', async (t) => {
  t.mock.timers.enable({ apis: ['Date'], now: T0 });
  const run: RunState = { running: true, pausedMs: 0 };
  const m = new Member();
  await m.applyRecord('fleet:f', fleetRecord(T0 - 100_000));
  // The old owner left cleanly 10 s behind its schedule: 20 slots of every device owed.
  const position = T0 - 10_000;
  for (let p = 0; p < PARTITIONS; p++) {
    await m.applyRecord(`handover:${p}`, handover(run, T0 - 50, position));
  }
  await m.loaded();
  m.producer.accepting = false;
  await m.assign([0, 1, 2, 3]);
  // The buffer is full: nothing goes out, neither owed nor due, while the schedule goes on.
  for (let i = 0; i < 100; i++) {
    t.mock.timers.tick(10);
    m.tick();
  }
  assert.equal(m.readings.length, 0, 'nothing offered to a producer that takes no more');
  assert.ok(m.internals.owed.size > 0);
  // Meanwhile a checkpoint holds where the takeover began: a crash would repeat, not lose.
  const checkpoint = () =>
    m.written.filter((w) => w.key === 'handover:0').at(-1)!.value as HandoverRecord;
  assert.equal(checkpoint().fleets.f, position);
  m.internals.checkpoint();
  assert.equal(checkpoint().fleets.f, position);
  m.producer.accepting = true;
  await new Promise((r) => setTimeout(r, 20)); // the drain's next try: a scheduler tick
  await m.drained();
  assert.equal(m.internals.owed.size, 0, 'all owed sent');
  assert.equal(m.internals.owing.size, 0);
  // Then where the schedule stands.
  m.internals.checkpoint();
  assert.equal(checkpoint().fleets.f, m.scheduler.nextDue('f'));
  assert.ok(checkpoint().fleets.f > position);
  for (let i = 0; i < 200; i++) {
    t.mock.timers.tick(10);
    m.tick();
  }
  const first = seqAt(position, T0 - 100_000);
  const last = seqAt(Date.now(), T0 - 100_000);
  for (const [d, seqs] of assertStreamsFrom(m, first)) {
    assert.ok(seqs[seqs.length - 1] >= last - 2, `device ${d} ends at ${seqs[seqs.length - 1]}`);
  }
  const gaps = (await import('prom-client')).register.getSingleMetric(
    'fleetsim_cluster_seq_gaps_total',
  );
  const counted = (await gaps!.get()).values
    .filter((v) => v.labels.member === m.internals.member)
    .reduce((n, v) => n + v.value, 0);
  assert.equal(counted, 0, 'no seq gap counted');
});

test('slots a takeover owes while stopped go out at the start ahead of the schedule, even where the schedule reaches a device first: no gap, no repeat', async (t) => {
  t.mock.timers.enable({ apis: ['Date'], now: T0 });
  const anchor = T0 - 100_000;
  const running: RunState = { running: true, pausedMs: 0 };
  const m = new Member();
  await m.applyRecord('fleet:f', fleetRecord(anchor));
  await m.applyRecord('simulation:state', running);
  await m.loaded();
  // Owning nothing, the member's schedule keeps up with the clock for a second.
  for (let i = 0; i < 100; i++) {
    t.mock.timers.tick(10);
    m.tick();
  }
  // The old owner released 2 s behind its schedule, just before the stop.
  const position = Date.now() - 2_000;
  for (let p = 0; p < PARTITIONS; p++) {
    await m.applyRecord(`handover:${p}`, handover(running, Date.now() - 10, position));
  }
  const stopped = stopAt(running, Date.now());
  await m.applyRecord('simulation:state', stopped);
  await m.assign([0, 1, 2, 3]);
  assert.equal(m.readings.length, 0, 'nothing sent while stopped');
  assert.equal(m.internals.owing.size, DEVICES, 'every device owes its last 2 s');
  // The start; the schedule's ticks come before the drain's first turn.
  t.mock.timers.tick(5_000);
  await m.applyRecord('simulation:state', startAt(stopped, Date.now()));
  for (let i = 0; i < 200; i++) {
    t.mock.timers.tick(10);
    m.tick();
  }
  assert.equal(m.internals.owing.size, 0);
  const first = seqAt(position, anchor);
  for (const [d, seqs] of assertStreamsFrom(m, first)) {
    // 2 s owed and 2 s since the start, at 500 ms.
    assert.ok(seqs.length >= 7, `device ${d}: ${seqs.length} readings`);
  }
});

test('a takeover whose old owner wrote its clean record just before it left reads it, not the checkpoint', async (t) => {
  t.mock.timers.enable({ apis: ['Date'], now: T0 });
  const run: RunState = { running: true, pausedMs: 0 };
  const m = new Member();
  await m.applyRecord('fleet:f', fleetRecord(T0 - 100_000));
  // The old owner's last checkpoint, 900 ms old; its clean record is on its way.
  await m.applyRecord('handover:0', handover(run, T0 - 900, T0 - 900, false));
  await m.loaded();
  let asked = 0;
  m.alive = () => {
    // The clean record reaches the topic right after this process's sync, then the owner leaves.
    if (++asked === 1) return true;
    m.pending.push({ key: 'handover:0', value: handover(run, T0 - 50, T0 - 50) });
    return false;
  };
  await m.assign([0]);
  // From the clean record: 50 ms of slots, not the 900 ms since the checkpoint.
  const fleet = m.fleet();
  const devices = fleet.devices.filter((d) => m.internals.partitionOf(d) === 0).length;
  assert.ok(m.readings.length <= devices, `${m.readings.length} readings sent late`);
  const takeovers = (await import('prom-client')).register.getSingleMetric(
    'fleetsim_cluster_takeovers_total',
  );
  const values = (await takeovers!.get()).values;
  assert.ok(values.some((v) => v.labels.kind === 'clean' && v.value === 1));
  assert.ok(!values.some((v) => v.labels.kind === 'crash'));
});

test('partitions a grown topic adds, taken over soon after the start, continue from now: no slot twice', async (t) => {
  t.mock.timers.enable({ apis: ['Date'], now: T0 });
  const m = new Member();
  await m.applyRecord('fleet:f', fleetRecord(T0));
  await m.loaded();
  await m.assign([0, 1, 2, 3]);
  // Three seconds of the schedule (well within the start's session + handover timeout).
  for (let i = 0; i < 300; i++) {
    t.mock.timers.tick(10);
    m.tick();
  }
  const produced = m.readings.length;
  assert.ok(produced >= 5 * DEVICES, `${produced} readings in 3 s`);
  // The readings topic grows to twice the partitions; the group assigns all of them here.
  m.internals.partitions = 2 * PARTITIONS;
  await m.assign([0, 1, 2, 3, 4, 5, 6, 7]);
  for (let i = 0; i < 100; i++) {
    t.mock.timers.tick(10);
    m.tick();
  }
  const seen = new Set<string>();
  for (const r of m.readings) {
    const key = `${r.device}:${r.seq}`;
    assert.ok(!seen.has(key), `device ${r.device} seq ${r.seq} sent twice`);
    seen.add(key);
  }
  assert.ok(m.readings.length > produced + DEVICES, 'streams on after the growth');
});
