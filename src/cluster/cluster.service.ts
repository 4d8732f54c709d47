import {
  type BeforeApplicationShutdown,
  Injectable,
  Logger,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
} from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { Counter, Gauge, register } from 'prom-client';
import { ConfigPatchService } from '../config/config.patch.service.js';
import { ConfigService } from '../config/config.service.js';
import { DomainError } from '../model/domain.error.js';
import { KafkaSecurityFactory } from '../kafka/kafka-security.js';
import { KafkaTarget } from '../kafka/kafka-target.js';
import type { Device, Fleet } from '../model/fleet.js';
import { fnv1a32, partitionFor } from '../model/fnv1a.js';
import { ProducerService } from '../producer/producer.service.js';
import { recordKey } from '../producer/record.key.js';
import { FleetRegistry } from '../simulation/fleet.registry.js';
import { MAX_TICK_WORK_MS } from '../simulation/scheduler.js';
import { SimulationService } from '../simulation/simulation.service.js';
import { type ControlRecord, ControlStore } from './control.store.js';
import { OwnershipGroup } from './ownership.group.js';
import {
  INITIAL_RUN_STATE,
  parseRunState,
  type RunState,
  scheduleTime,
  sharedAnchor,
  startAt,
  stopAt,
  wallAnchor,
} from './run.state.js';
import { firstSlotFrom, slotIndex, slotTime } from './slots.js';

/** Applies one record of a kind from the control topic (value null: deleted). */
export type ControlHandler = (id: string, value: unknown, offset: number) => void | Promise<void>;

/**
 * Where an owner stopped (clean) or had got to (checkpoint) on one readings partition:
 * per fleet, the event time of the next slot it had not taken. Key `handover:<partition>`.
 */
export interface HandoverRecord {
  member: string;
  /** The owner's member id in the Kafka group (to ask the group whether it is alive). */
  groupMember: string;
  /** True when written after the owner released the partition and flushed its readings. */
  clean: boolean;
  at: number;
  /**
   * Per fleet, the event time of its next slot, on the wall clock of `pausedMs` (the
   * cluster's stopped time when written; absent in older records: 0). A reader whose clock
   * has moved on since (the simulation was stopped and started) adds the difference.
   */
  fleets: Record<string, number>;
  pausedMs?: number;
  /** Where the schedules stood when written: `at`, or the stop time while stopped (older records: `at`). */
  clock?: number;
}

/**
 * Slots of one device that a takeover sends late: from the device's seq up to `until`, or,
 * while that is unset, up to where this process's schedule stands when they are sent.
 */
interface OwedSlots {
  fleet: Fleet;
  device: Device;
  until?: number;
  /** Taken over after a crash: possibly sent before (counted as replayed). */
  replayed: boolean;
  /** Sent (or given up): nothing more to do. */
  done: boolean;
  /** The partition's list it is in. */
  partition: OwedPartition;
}

/** The slots a takeover of one partition owes, sent in order (`next`: the first not sent). */
interface OwedPartition {
  list: OwedSlots[];
  next: number;
  /** Readings sent so far. */
  sent: number;
  /**
   * Per fleet, where the takeover began (on the clock of `pausedMs`): the partition's
   * checkpoints hold these until all is sent, so that a crash meanwhile repeats readings
   * rather than losing the ones still owed.
   */
  fleets: Record<string, number>;
  pausedMs: number;
}

/** A member as it last reported itself. Key `member:<id>`. */
export interface MemberRecord {
  member: string;
  partitions: number[];
  /** Target readings per second of its partitions. */
  rate: number;
  at: number;
}

function metric<T>(name: string, create: () => T): T {
  register.removeSingleMetric(name);
  return create();
}

/**
 * Scale-out through Kafka (off unless cluster.enabled): the control topic holds the shared
 * desired state; a consumer group on `<cluster>.ownership` (as many partitions as the readings
 * topic) decides which process produces which readings partition; handover records in the
 * control topic let a new owner continue each device's seq where the old one stopped.
 */
@Injectable()
export class ClusterService
  implements OnApplicationBootstrap, BeforeApplicationShutdown, OnApplicationShutdown
{
  private readonly logger = new Logger('Cluster');
  /** In the cluster (false: standalone, or Kafka was unreachable at boot; see onApplicationBootstrap). */
  enabled: boolean;
  readonly name: string;
  /** This process in the cluster. */
  readonly member = `${hostname()}-${process.pid}-${randomUUID().slice(0, 4)}`;
  private readonly handlers = new Map<string, ControlHandler>();
  private store?: ControlStore;
  /** When this process began to join (its first takeovers catch up from there). */
  private startedAt = 0;
  /**
   * The readings topic's partition count when this process joined: a partition at or above it
   * came with a growth of the topic, and its devices were produced (under their old partitions)
   * until it was assigned.
   */
  private partitionsAtJoin = 0;
  /** Resolves once the control topic has been read to its end (at boot). */
  private loaded?: Promise<void>;
  /** Whether `loaded` has resolved (until then nothing is produced: see applyRun). */
  private caughtUp = false;
  private group?: OwnershipGroup;
  /** See devicesPerPartition. */
  private readonly partitionCounts = new WeakMap<
    Fleet,
    { devices: number; partitions: number; counts: Uint32Array }
  >();
  /** Partitions this process produces now. */
  private readonly owned = new Set<number>();
  /** Partitions assigned to it and being taken over. */
  private readonly acquiring = new Set<number>();
  private readonly releasing = new Set<Promise<void>>();
  /** Partitions being released (flushed, handover record written): not taken back meanwhile. */
  private readonly leaving = new Set<number>();
  private partitions = 1;
  private readonly handovers = new Map<number, HandoverRecord>();
  private readonly members = new Map<string, MemberRecord>();
  private timers: NodeJS.Timeout[] = [];
  private sharedConfig: Record<string, unknown> = {};
  /** Offset of the runtime config record in the control topic (-1: none yet). */
  private sharedConfigOffset = -1;
  private stopping = false;
  private resizing = false;
  /** The simulation's start/stop as the control topic has it (see run.state.ts). */
  private run: RunState = INITIAL_RUN_STATE;
  /** Whether a `simulation:state` record has been applied. */
  private runApplied = false;
  /** Partition count the group was last asked to share out (rejoined for). */
  private rejoinedFor = 0;
  /** Consecutive checkpoints at which the leader found partitions assigned to nobody. */
  private uncovered = 0;
  /** Per owned partition: label events before this time were its previous owner's to write. */
  private readonly labelsFrom = new Map<number, number>();
  /** Per released partition: the span [from, at) of event times this process wrote labels for. */
  private readonly labelsReleased = new Map<number, { from: number; at: number }>();
  /** Label events of partitions this process did not own when they fell due (see label). */
  private labelsPending: Array<{ anomalyId: string; at: number; emit: () => void }> = [];
  /**
   * Per owned partition: the slots its takeover found unsent (between where the old owner's
   * schedules stood and where this process's stand, which may be seconds of a fleet's
   * readings). They go out paced, as the schedules' own readings do (see drainOwed): at most
   * MAX_TICK_WORK_MS at a time, and under `block` only while the producer takes more, so a
   * large catch-up waits for the brokers instead of filling the memory. Nothing is produced
   * while stopped (the old owner may have applied the stop a little earlier than this
   * member): they wait for the start, or go out when the partition is released first. Until
   * they are sent the partition's checkpoints hold where the takeover began (checkpointOf), so a
   * crash meanwhile repeats readings rather than losing these.
   */
  private readonly owed = new Map<number, OwedPartition>();
  /**
   * Devices with owed slots: the schedule's next slot of such a device sends them first (the
   * gate), unless drainOwed has already.
   */
  private readonly owing = new Map<Device, OwedSlots>();
  /** The next turn of drainOwed, when one is due. */
  private drainTimer?: NodeJS.Timeout | NodeJS.Immediate;
  private readonly ownedGauge;
  private readonly handoverCounter;
  private readonly takeoverReadings;
  private readonly seqGaps;

  /** TLS and SASL for the control store and the ownership group (set at boot). */
  private readonly security = new KafkaSecurityFactory();

  constructor(
    private readonly config: ConfigService,
    private readonly target: KafkaTarget,
    private readonly simulation: SimulationService,
    private readonly producer: ProducerService,
    private readonly fleets: FleetRegistry,
    private readonly patches: ConfigPatchService,
  ) {
    const c = config.config.cluster;
    this.enabled = c.enabled && target.connect;
    this.name = c.name;
    this.ownedGauge = metric(
      'fleetsim_cluster_owned_partitions',
      () =>
        new Gauge({
          name: 'fleetsim_cluster_owned_partitions',
          help: 'Readings partitions this process produces (cluster mode)',
          labelNames: ['member'],
        }),
    );
    this.handoverCounter = metric(
      'fleetsim_cluster_takeovers_total',
      () =>
        new Counter({
          name: 'fleetsim_cluster_takeovers_total',
          help: 'Partitions taken over, by how: clean (handover record of the old owner), crash (from its last checkpoint), fresh (no earlier owner)',
          labelNames: ['member', 'kind'],
        }),
    );
    this.takeoverReadings = metric(
      'fleetsim_cluster_takeover_readings_total',
      () =>
        new Counter({
          name: 'fleetsim_cluster_takeover_readings_total',
          help: 'Readings of taken-over partitions: caught_up (sent late by the new owner), replayed (after a crash, possibly sent twice), skipped (after a crash, never sent)',
          labelNames: ['member', 'kind'],
        }),
    );
    this.seqGaps = metric(
      'fleetsim_cluster_seq_gaps_total',
      () =>
        new Counter({
          name: 'fleetsim_cluster_seq_gaps_total',
          help: 'Slots a device of an owned partition skipped (pause or lost handover), summed over devices',
          labelNames: ['member'],
        }),
    );
    this.handle('handover', (id, value) => {
      if (value === null) this.handovers.delete(Number(id));
      else this.handovers.set(Number(id), value as HandoverRecord);
    });
    // Runtime config: one record holding every change made over REST, composed.
    this.handle('config', async (_id, value, offset) => {
      this.sharedConfig = (value as Record<string, unknown> | null) ?? {};
      this.sharedConfigOffset = offset;
      if (value !== null) {
        await this.patches
          .applyShared(value)
          .catch((err: Error) => this.logger.warn(`shared config not applied: ${err.message}`));
      }
    });
    // Simulation start/stop over REST, for every process.
    this.handle('simulation', (_id, value) => {
      if (value !== null) this.applyRun(parseRunState(value));
    });
    this.handle('member', (id, value) => {
      if (value === null) this.members.delete(id);
      else this.members.set(id, value as MemberRecord);
    });
  }

  /** Registers what applies records of `kind` (key `kind:id`). */
  handle(kind: string, handler: ControlHandler): void {
    this.handlers.set(kind, handler);
  }

  /** Writes desired state and resolves once it is applied in this process. */
  async write(kind: string, id: string, value: unknown): Promise<void> {
    await this.store!.write(kind, id, value);
  }

  /** Resolves once everything written to the control topic so far is applied here. */
  async sync(): Promise<void> {
    await this.store?.sync();
  }

  /** Wall time the fleets' schedules stand at: now, or the stop time while the simulation is stopped. */
  scheduleNow(): number {
    return scheduleTime(this.run, Date.now());
  }

  /** A fleet's (wall-clock) anchor as its record in the control topic holds it. */
  toSharedAnchor(wallMs: number): number {
    return sharedAnchor(this.run, wallMs);
  }

  /** A fleet record's anchor on the wall clock, as the schedules use it. */
  fromSharedAnchor(sharedMs: number): number {
    return wallAnchor(this.run, sharedMs);
  }

  /**
   * Applies a start or stop from the control topic. A start adds the stopped time to
   * `pausedMs`: every fleet's anchor and schedule move on by as much, so each device's next
   * slot keeps the seq it had when the simulation stopped, on every member alike.
   */
  private applyRun(next: RunState): void {
    const previous = this.run;
    this.run = next;
    this.runApplied = true;
    const scheduler = this.simulation.scheduler;
    const shift = next.pausedMs - previous.pausedMs;
    if (shift !== 0) {
      for (const fleet of this.fleets.all()) {
        if (fleet.anchorMs !== undefined) fleet.anchorMs += shift;
      }
    }
    if (!this.caughtUp) {
      // Still reading the control topic at boot (nothing produced yet): the fleets applied so
      // far were placed against the run state of that moment (before the topic's last
      // `simulation:state` record, the initial one), so their slot index is counted on the
      // wrong clock; shifting them would leave them the whole stopped time ahead (a flood of
      // future-dated readings at the takeover, then silence). Put them where the cluster's
      // schedules stand: now, or the stop.
      scheduler.placeAt(scheduleTime(next, Date.now()));
    } else if (shift !== 0) {
      scheduler.shift(shift);
      // Already running (a start applied while this process catches up at boot): no start
      // will rebase its schedules, so one left far behind jumps to now here.
      if (scheduler.running) scheduler.realign();
    }
    if (next.running) {
      scheduler.pausedAt = undefined;
    } else {
      // Owed slots wait for the start, up to where the schedules stand now: a start long
      // after may move the schedules on (see Scheduler.resumeWithinMs) past slots not owed.
      this.fixOwed([...this.owed.values()]);
      // Fleets added while stopped start where the simulation stopped. A process that has
      // produced nothing yet goes back to the stop, where the cluster's schedules stand (a
      // takeover under way has emitted nothing either: it owes its slots, then owns).
      scheduler.pausedAt = next.stoppedAt;
      if (next.stoppedAt !== undefined && this.owned.size === 0) {
        scheduler.holdAt(next.stoppedAt);
      }
    }
    this.simulation.applyRunning(next.running);
    // Slots owed by a takeover during the stop, at their event times on the moved grid.
    if (next.running) this.drainSoon();
  }

  /** REST start or stop: written to the control topic, from the state this process has caught up with. */
  private async shareRun(running: boolean): Promise<void> {
    await this.sync();
    const now = Date.now();
    await this.write(
      'simulation',
      'state',
      running ? startAt(this.run, now) : stopAt(this.run, now),
    );
  }

  /**
   * Joins the cluster. When that fails at boot (Kafka unreachable, topics not allowed) and
   * cluster mode is only the default (cluster.enabled not set), the process runs standalone
   * instead, as a single process always could: it starts and serves while the brokers are
   * down. Set explicitly (FLEETSIM_CLUSTER=true, FLEETSIM_WORKERS, Helm replicaCount > 1),
   * joining is required.
   */
  async onApplicationBootstrap(): Promise<void> {
    if (!this.enabled) return;
    try {
      await this.join();
    } catch (err) {
      if (this.config.sources.get('cluster.enabled') !== 'default') throw err;
      this.logger.warn(
        `cannot join cluster ${this.name} at boot (${(err as Error).message}): running standalone; ` +
          'restart once the brokers are up to join it (FLEETSIM_CLUSTER=true makes joining required, FLEETSIM_CLUSTER=false standalone)',
      );
      await this.leaveForStandalone();
    }
  }

  /** Undoes a boot that failed half-way: this process runs on its own. */
  private async leaveForStandalone(): Promise<void> {
    this.enabled = false;
    this.stopping = true;
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    this.simulation.setGate(undefined);
    this.simulation.scheduler.pausedAt = undefined;
    this.simulation.scheduler.resumeWithinMs = 0;
    this.simulation.clusterStatus = undefined;
    this.simulation.shareRunning = undefined;
    this.patches.shared = undefined;
    const store = this.store;
    const group = this.group;
    this.store = undefined;
    this.group = undefined;
    this.owned.clear();
    this.clearOwed();
    await Promise.allSettled([store?.close(), group?.close()]);
  }

  private async join(): Promise<void> {
    this.startedAt = Date.now();
    this.simulation.setGate(this.gate);
    // A start applied so late that the schedules stand further behind resumes at now.
    this.simulation.scheduler.resumeWithinMs = this.takeoverSpan();
    const brokers = this.target.brokers;
    const clientId = `${this.config.config.kafka.clientId}-${this.member}`;
    this.store = new ControlStore({
      brokers,
      clientId,
      topic: `${this.name}.control`,
      security: this.security.build(this.config.config.kafka),
      apply: (r) => this.apply(r),
      log: (m) => this.logger.warn(m),
      applyTimeoutMs: APPLY_TIMEOUT_MS,
    });
    // Join the ownership group while the control topic is read: a group's first join is the
    // slow part of a start (on a broker with the default group.initial.rebalance.delay.ms, 3 s
    // at least), and nothing is taken over before the control topic is applied (acquire syncs).
    const joined = this.joinGroup(brokers, clientId);
    joined.catch(() => {}); // awaited below; this only keeps an early failure from going unhandled
    await this.load(this.store.start());
    this.logger.log(
      `member ${this.member} joined cluster ${this.name}: ${this.fleets.size} fleets from the control topic`,
    );
    if (!this.runApplied && !this.config.config.simulation.autoStart) {
      // simulation.autoStart: false, and the cluster was never started or stopped: it starts
      // stopped, for every member, from now. Fleets created until the first start then begin
      // at seq 0 at that start, as in a standalone process.
      await this.write('simulation', 'state', stopAt(this.run, Date.now()));
    }
    this.simulation.clusterStatus = () => this.status();
    this.simulation.shareRunning = (running) => this.shareRun(running);
    this.patches.shared = {
      // 8 hex digits, as a single process's boot id: ETags of one control topic match.
      name: fnv1a32(`${this.name}/${this.store.topicId}`).toString(16).padStart(8, '0'),
      write: (patch) => this.write('config', 'runtime', composePatches(this.sharedConfig, patch)),
      sync: () => this.sync(),
      version: () => this.sharedConfigOffset + 1,
    };
    await joined;
  }

  /** Reads the control topic to its end at boot (`started`: the store's start). */
  private load(started: Promise<void>): Promise<void> {
    this.loaded = started.then(() => {
      this.caughtUp = true;
    });
    return this.loaded;
  }

  private async apply(r: ControlRecord): Promise<void> {
    await this.handlers.get(r.kind)?.(r.id, r.value, r.offset);
  }

  /** The sink's gate: owned partitions only; seq from the schedule, never backwards. */
  private readonly gate = (fleet: Fleet, device: Device, due: number): boolean => {
    if (!this.owned.has(this.partitionOf(device))) return false;
    const k = slotIndex(fleet, device, due);
    if (k < device.seq) return false;
    if (k > device.seq) {
      // Its takeover still owes the slots before: they go first (up to this one at most).
      const owed = this.owing.size === 0 ? undefined : this.owing.get(device);
      if (owed !== undefined) this.sendOwed(owed, k);
      // Past them (a start so late that the schedule jumped to now): a gap, counted.
      if (k > device.seq && device.lastTs >= 0) {
        this.seqGaps.inc({ member: this.member }, k - device.seq);
      }
    }
    device.seq = k;
    return true;
  };

  /**
   * Writes an anomaly's lifecycle event (event time `at`) on exactly one member: the owner of
   * the ownership partition the anomaly id hashes to, as readings are written by the owner of
   * their device's partition. Every member places every anomaly and calls this for each of its
   * events; an event that falls due while its partition is between owners waits here, and the
   * new owner writes those from where the old one stopped (the handover record's time). After a
   * crash, events since the dead member's last checkpoint may be written twice. Outside cluster
   * mode, `emit` runs at once.
   */
  label(anomalyId: string, at: number, emit: () => void): void {
    if (!this.enabled) return emit();
    const p = this.labelPartition(anomalyId);
    if (this.owned.has(p)) {
      // Before this process took the partition over, the event was the previous owner's.
      if (at >= (this.labelsFrom.get(p) ?? -Infinity)) emit();
      return;
    }
    // Due late (a record applied after the partition moved on): the span this process owned.
    const released = this.labelsReleased.get(p);
    if (released && at >= released.from && at < released.at) return emit();
    if (at < this.labelHorizon()) return; // older than any takeover goes back
    // Its partition is worked out when one is taken over (the count is known by then).
    this.labelsPending.push({ anomalyId, at, emit });
  }

  /** The ownership partition whose owner writes an anomaly's labels. */
  private labelPartition(anomalyId: string): number {
    return partitionFor(recordKey(anomalyId).hash, this.partitions);
  }

  /** Pending label events older than this are dropped: no takeover reaches back so far. */
  private labelHorizon(): number {
    const c = this.config.config.cluster;
    return Date.now() - 2 * (c.sessionTimeoutMs + c.handoverTimeoutMs + 2 * c.checkpointMs);
  }

  /** Starts writing the label events of `p` from `from` on, and the pending ones since then. */
  private takeLabels(p: number, from: number): void {
    this.labelsFrom.set(p, from);
    this.labelsReleased.delete(p);
    const due: Array<{ at: number; emit: () => void }> = [];
    this.labelsPending = this.labelsPending.filter((e) => {
      if (this.labelPartition(e.anomalyId) !== p) return true;
      if (e.at >= from) due.push(e);
      return false;
    });
    due.sort((a, b) => a.at - b.at);
    for (const e of due) e.emit();
  }

  /** The readings partition of a device (FNV-1a of its key modulo the partition count). */
  private partitionOf(device: Device): number {
    return partitionFor(device.keyHash(), this.partitions);
  }

  private async joinGroup(brokers: string[], clientId: string): Promise<void> {
    const c = this.config.config.cluster;
    const reconcile = () => this.reconcile();
    this.group = new OwnershipGroup({
      brokers,
      clientId,
      groupId: `${this.name}.members`,
      topic: `${this.name}.ownership`,
      security: this.security.build(this.config.config.kafka),
      sessionTimeoutMs: c.sessionTimeoutMs,
      rebalanceTimeoutMs: c.sessionTimeoutMs + c.handoverTimeoutMs,
      changed: reconcile,
      log: (m) => this.logger.error(m),
      info: (m) => this.logger.log(m),
    });
    const readings = this.config.config.kafka.topic;
    this.partitions =
      (await this.group.partitionsOf(readings)) ?? this.config.config.kafka.topicPartitions;
    this.partitionsAtJoin = this.partitions;
    await this.group.ensureTopic(this.partitions);
    await this.group.join();
    if (!this.enabled) return; // the boot failed meanwhile: standalone
    this.rejoinedFor = this.partitions;
    this.timers.push(
      setInterval(reconcile, 100),
      setInterval(() => this.checkpoint(), c.checkpointMs),
    );
    for (const t of this.timers) t.unref();
  }

  /** Compares the group's assignment with what this process produces, and moves partitions. */
  private reconcile(): void {
    if (!this.group || this.stopping) return;
    const assigned = this.group.assigned();
    for (const p of [...this.owned]) if (!assigned.has(p)) this.track(this.release([p]));
    for (const p of assigned) {
      if (p >= this.partitions) {
        // Another member grew the ownership topic first: learn the new partition count (once
        // this process's producer sees it) before producing the partition.
        void this.followPartitions();
        continue;
      }
      // Assigned again while its release is under way (the group took it away and gave it
      // back, e.g. after a rejoin): taken over once the release wrote its handover record, so
      // that the slots sent before the release are not sent again from an older checkpoint.
      if (!this.owned.has(p) && !this.acquiring.has(p) && !this.leaving.has(p)) {
        this.acquiring.add(p);
        void this.acquire(p)
          .catch((err: Error) =>
            this.logger.error(`taking over partition ${p} failed: ${err.message}`),
          )
          .finally(() => this.acquiring.delete(p));
      }
    }
    this.ownedGauge.set({ member: this.member }, this.owned.size);
  }

  private track(p: Promise<void>): void {
    this.releasing.add(p);
    void p
      .catch((err: Error) => this.logger.error(`handover failed: ${err.message}`))
      .finally(() => this.releasing.delete(p));
  }

  /** Where the schedule of every fleet has got to: the next slot not yet taken. */
  private positions(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const f of this.fleets.all()) {
      const due = this.simulation.scheduler.nextDue(f.id);
      if (due !== undefined) out[f.id] = due;
    }
    return out;
  }

  /** The handover record this process writes: where its schedules stand (see HandoverRecord). */
  private handoverRecord(clean: boolean, at: number): HandoverRecord {
    return {
      member: this.member,
      groupMember: this.group?.memberId ?? '',
      clean,
      at,
      // The positions and the pausedMs of one moment: a start applied later moves both.
      fleets: this.positions(),
      pausedMs: this.run.pausedMs,
      clock: scheduleTime(this.run, at),
    };
  }

  /** How far back a takeover replays (a later checkpoint than this is always written). */
  private takeoverSpan(): number {
    const c = this.config.config.cluster;
    return c.sessionTimeoutMs + c.handoverTimeoutMs + 2 * c.checkpointMs;
  }

  /** Stops producing `partitions` at once, flushes, then records where each fleet stopped. */
  private async release(partitions: number[]): Promise<void> {
    const at = Date.now();
    const owed = new Map<number, OwedPartition>();
    for (const p of partitions) {
      this.owned.delete(p);
      this.leaving.add(p);
      this.labelsReleased.set(p, { from: this.labelsFrom.get(p) ?? -Infinity, at });
      this.labelsFrom.delete(p);
      const o = this.owed.get(p);
      if (o !== undefined) {
        this.owed.delete(p);
        owed.set(p, o);
      }
    }
    // Slots still owed go out first, up to where the schedules stand now (even while
    // stopped): the positions in the handover record count them as sent.
    this.fixOwed(owed.values());
    try {
      // Where the schedules stand now, with the pausedMs they stand on: a start applied while
      // the producer flushes (or between the writes) moves the schedules, not this record.
      const record = this.handoverRecord(true, at);
      for (const [p, o] of owed) await this.payOwed(p, o);
      await this.producer.flush();
      for (const p of partitions) {
        await this.store!.write('handover', String(p), record);
      }
      this.logger.log(`released partitions ${partitions.join(',')}`);
    } finally {
      for (const p of partitions) this.leaving.delete(p);
      // Should sending have failed: no device stays owing (its next slots would wait for them).
      for (const [p, o] of owed) this.giveUpOwed(p, o);
    }
  }

  private assigned(p: number): boolean {
    return this.group?.assigned().has(p) ?? false;
  }

  /** Takes partition `p` over: waits for the old owner's handover record, then continues its slots. */
  private async acquire(p: number): Promise<void> {
    const c = this.config.config.cluster;
    await this.loaded;
    await this.store!.sync();
    let record = this.handovers.get(p);
    const deadline = Date.now() + c.handoverTimeoutMs;
    while (
      record &&
      !record.clean &&
      record.member !== this.member &&
      Date.now() < deadline &&
      (await this.group!.alive(record.groupMember))
    ) {
      await new Promise((r) => setTimeout(r, 100));
      await this.store!.sync();
      record = this.handovers.get(p);
    }
    if (record && !record.clean && record.member !== this.member) {
      // The old owner may have written its clean record just before it left the group (or
      // the deadline passed): read up to now before taking its last checkpoint for it.
      await this.store!.sync();
      record = this.handovers.get(p);
    }
    if (this.stopping || !this.assigned(p)) return;
    // After a crash, replay at most this far back; older slots count as skipped.
    // Label events: from where the previous owner stopped (or checkpointed), all of them when
    // the partition never had an owner.
    const labelsFrom = record?.at ?? -Infinity;
    const span = this.takeoverSpan();
    // Record and schedules are compared on the schedules' clock, which stands still while the
    // simulation is stopped: the record's times move on by the stopped time since it was written.
    const clock = this.scheduleNow();
    let shift = record ? this.run.pausedMs - (record.pausedMs ?? 0) : 0;
    let recordClock = record ? (record.clock ?? record.at) + shift : 0;
    const horizon = clock - span;
    if (
      record &&
      record.member !== this.member &&
      recordClock < (record.clean ? horizon : horizon - span)
    ) {
      // Its owner left (or died) long before any takeover takes, and nobody produced it
      // since: a whole cluster went away, or a single process restarts. Resume at the
      // schedule's position rather than send (or count) every slot of the pause.
      this.logger.log(
        `partition ${p} had no owner for ${Math.round((clock - recordClock) / 1000)} s: resuming at the schedule's position`,
      );
      record = undefined;
      shift = 0;
      recordClock = 0;
    }
    const kind = !record
      ? 'fresh'
      : record.clean || record.member === this.member
        ? 'clean'
        : 'crash';
    let caughtUp = 0;
    let skipped = 0;
    // Sent paced (drainOwed, or the gate at the device's next slot); while stopped, not
    // before the start. Slots an earlier takeover of `p` owed went out at its release.
    const owing: OwedPartition = {
      list: [],
      next: 0,
      sent: 0,
      fleets: {},
      pausedMs: this.run.pausedMs,
    };
    const stopped = !this.run.running;
    // Slots due after now are never sent late: a schedule that stands ahead of the clock
    // (it should not) would otherwise send them all at once, then nothing until they are due.
    const cap = Date.now() + 1;
    let ahead = 0;
    const starting =
      p < this.partitionsAtJoin &&
      Date.now() < this.startedAt + c.sessionTimeoutMs + c.handoverTimeoutMs;
    for (const fleet of this.fleets.all()) {
      const now = this.simulation.scheduler.nextDue(fleet.id);
      if (now === undefined) continue;
      // No earlier owner. While this process starts (a fleet may be created before the group
      // has assigned anything): every slot since the fleet's anchor or this process's start
      // (or the stop, while the simulation is stopped), none of them sent by anyone. Later (new
      // partitions of a grown topic, whose devices other members produced until now): from now on.
      const fresh = starting ? Math.max(fleet.anchorMs!, Math.min(this.startedAt, now)) : now;
      const recorded = record?.fleets[fleet.id];
      const stood = recorded === undefined ? undefined : recorded + shift;
      let from = record ? (stood ?? Math.max(recordClock, fleet.anchorMs!)) : fresh;
      if (kind === 'crash' && from < horizon) from = horizon;
      owing.fleets[fleet.id] = from;
      for (const device of fleet.devices) {
        if (this.partitionOf(device) !== p) continue;
        const first = firstSlotFrom(fleet, device, from);
        const due = firstSlotFrom(fleet, device, now);
        const until = Math.min(due, firstSlotFrom(fleet, device, cap));
        ahead += Math.max(0, due - Math.max(first, until));
        if (kind === 'crash' && stood !== undefined && stood < horizon) {
          skipped += Math.max(
            0,
            firstSlotFrom(fleet, device, horizon) - firstSlotFrom(fleet, device, stood),
          );
        }
        device.seq = first;
        this.owing.delete(device);
        if (until <= first) continue;
        caughtUp += until - first;
        // Up to where the schedule stands when they are sent (it goes on meanwhile); while
        // stopped, up to the stop.
        const slots: OwedSlots = {
          fleet,
          device,
          until: stopped ? until : undefined,
          replayed: kind === 'crash',
          done: false,
          partition: owing,
        };
        owing.list.push(slots);
        this.owing.set(device, slots);
      }
    }
    this.owned.add(p);
    if (owing.list.length) {
      this.owed.set(p, owing);
      this.drainSoon();
    }
    this.takeLabels(p, labelsFrom);
    // Checkpoint at once: until this member's first checkpoint the partition's record is the
    // previous owner's, and if this member crashed before writing one the next owner would
    // take that old record for where this member stopped (a clean handover, or its own).
    const checkpoint = this.checkpointOf(p, this.handoverRecord(false, Date.now()));
    void this.store!.write('handover', String(p), checkpoint).catch((err: Error) =>
      this.logger.warn(`checkpoint of partition ${p} failed: ${err.message}`),
    );
    this.handoverCounter.inc({ member: this.member, kind });
    if (skipped) this.takeoverReadings.inc({ member: this.member, kind: 'skipped' }, skipped);
    if (ahead) {
      this.logger.warn(
        `partition ${p}: ${ahead} slots of the schedule stand ahead of the clock and were not sent late`,
      );
    }
    const text =
      `took over partition ${p} (${kind}${record ? ` from ${record.member}` : ''}): ` +
      (caughtUp === 0
        ? 'nothing to send late'
        : stopped
          ? `${caughtUp} readings to send late at the start`
          : `${caughtUp} readings to send late, paced`);
    if (kind === 'crash') {
      this.logger.warn(
        `${text}; after a crash, readings since its last checkpoint may repeat (${skipped} skipped)`,
      );
    } else this.logger.log(text);
    this.ownedGauge.set({ member: this.member }, this.owned.size);
  }

  /** Sends slots [from, until) of `device` (seq = slot index), at their event times. */
  private emitSlots(fleet: Fleet, device: Device, from: number, until: number): void {
    for (let k = from; k < until; k++) {
      device.seq = k;
      this.simulation.emit(fleet, device, slotTime(fleet, device, k));
    }
  }

  /** The slot of `device` where this process's schedule stands (never after now). */
  private dueSlot(fleet: Fleet, device: Device): number | undefined {
    const next = this.simulation.scheduler.nextDue(fleet.id);
    if (next === undefined) return undefined;
    return Math.min(
      firstSlotFrom(fleet, device, next),
      firstSlotFrom(fleet, device, Date.now() + 1),
    );
  }

  /** Owed slots of `owed` end where the schedules stand now. */
  private fixOwed(owed: Iterable<OwedPartition>): void {
    for (const o of owed) {
      for (let i = o.next; i < o.list.length; i++) {
        const slots = o.list[i];
        slots.until ??= this.dueSlot(slots.fleet, slots.device) ?? slots.device.seq;
      }
    }
  }

  /**
   * Sends one device's owed slots (below `before` at most: the slot the schedule offers now),
   * unless its fleet or the device is gone, or they were sent. Nothing moves a device's seq
   * back; slots it reached otherwise are not repeated.
   */
  private sendOwed(slots: OwedSlots, before = Infinity): void {
    if (slots.done) return;
    slots.done = true;
    const { fleet, device } = slots;
    if (this.owing.get(device) === slots) this.owing.delete(device);
    if (this.fleets.get(fleet.id) !== fleet || fleet.devices[device.index] !== device) return;
    const from = device.seq;
    const until = Math.min(slots.until ?? this.dueSlot(fleet, device) ?? from, before);
    if (from >= until) return;
    this.emitSlots(fleet, device, from, until);
    slots.partition.sent += until - from;
    this.takeoverReadings.inc(
      { member: this.member, kind: slots.replayed ? 'replayed' : 'caught_up' },
      until - from,
    );
  }

  /** Whether the producer takes more readings now (always, under `drop`: it drops and counts). */
  private roomForOwed(): boolean {
    return this.producer.accepting || this.config.config.producer.backpressure !== 'block';
  }

  /** drainOwed a scheduler tick from now (it alone does not keep the process alive). */
  private drainLater(): NodeJS.Timeout {
    return setTimeout(this.drainOwed, this.config.config.simulation.tickMs).unref();
  }

  /** Runs drainOwed on the next turn of the event loop, unless a turn is due already. */
  private drainSoon(): void {
    if (this.drainTimer === undefined && this.owed.size !== 0) {
      this.drainTimer = setImmediate(this.drainOwed);
    }
  }

  /**
   * Sends owed slots for at most MAX_TICK_WORK_MS, then lets the event loop go on: at once
   * again while there is room, a scheduler tick later when the producer is full (`block`).
   * Not while stopped (the start runs it again) or shutting down (release sends the rest).
   */
  private readonly drainOwed = (): void => {
    this.drainTimer = undefined;
    if (this.stopping || !this.run.running) return;
    if (!this.simulation.scheduler.running) {
      // Not producing yet (connecting): the schedules wait too.
      this.drainTimer = this.drainLater();
      return;
    }
    const until = performance.now() + MAX_TICK_WORK_MS;
    for (const [p, o] of this.owed) {
      while (o.next < o.list.length) {
        if (!this.roomForOwed()) {
          this.drainTimer = this.drainLater();
          return;
        }
        if (performance.now() >= until) {
          this.drainTimer = setImmediate(this.drainOwed);
          return;
        }
        this.sendOwed(o.list[o.next++]);
      }
      this.owed.delete(p);
      if (o.sent) this.logger.log(`partition ${p}: sent the ${o.sent} readings its takeover owed`);
    }
  };

  /**
   * Sends all of `o` (a released partition's), waiting for room in the producer as drainOwed
   * does, for up to half of cluster.handoverTimeoutMs in all (the next owner waits no longer
   * than that for the handover record, which also needs the flush): the slots still owed then
   * are given up, counted as skipped (seq gaps: the record counts them as sent).
   */
  private async payOwed(p: number, o: OwedPartition): Promise<void> {
    const patience = performance.now() + this.config.config.cluster.handoverTimeoutMs / 2;
    let until = performance.now() + MAX_TICK_WORK_MS;
    while (o.next < o.list.length) {
      if (!this.roomForOwed()) {
        if (performance.now() < patience) {
          await new Promise((r) => setTimeout(r, this.config.config.simulation.tickMs));
          continue;
        }
        this.giveUpOwed(p, o);
        return;
      }
      if (performance.now() >= until) {
        await new Promise((r) => setImmediate(r));
        until = performance.now() + MAX_TICK_WORK_MS;
      }
      this.sendOwed(o.list[o.next++]);
    }
  }

  /** Drops what `o` still owes, counted as skipped (a release that found no room in time). */
  private giveUpOwed(p: number, o: OwedPartition): void {
    let skipped = 0;
    for (; o.next < o.list.length; o.next++) {
      const slots = o.list[o.next];
      if (slots.done) continue;
      slots.done = true;
      if (this.owing.get(slots.device) === slots) this.owing.delete(slots.device);
      const until = slots.until ?? slots.device.seq;
      if (until > slots.device.seq) skipped += until - slots.device.seq;
    }
    if (skipped) {
      this.takeoverReadings.inc({ member: this.member, kind: 'skipped' }, skipped);
      this.logger.warn(
        `partition ${p}: released with ${skipped} readings its takeover owed unsent (the producer took no more in time): seq gaps`,
      );
    }
  }

  /** Forgets every owed slot (this process leaves the cluster). */
  private clearOwed(): void {
    if (this.drainTimer !== undefined) {
      clearTimeout(this.drainTimer as NodeJS.Timeout);
      clearImmediate(this.drainTimer as NodeJS.Immediate);
      this.drainTimer = undefined;
    }
    this.owed.clear();
    this.owing.clear();
  }

  /**
   * Follows a partition-count change of the readings topic (the producer re-reads it): grows
   * the ownership topic to match and asks the group for a new assignment. Devices whose
   * partition changes move owner without a handover record, so around the change a reading
   * may repeat or be skipped (bounded by the checkpoint interval, counted as seq gaps).
   */
  private async followPartitions(): Promise<void> {
    const count = this.producer.topicInfo().partitions;
    const grew = count > this.partitions;
    // A rejoin that failed is tried again at the next check.
    if (this.resizing || !this.group || (!grew && this.rejoinedFor >= this.partitions)) return;
    this.resizing = true;
    try {
      if (grew) {
        const before = this.partitions;
        await this.group.ensureTopic(count);
        this.partitions = count;
        this.logger.warn(
          `the readings topic grew from ${before} to ${count} partitions: ownership follows`,
        );
      }
      await this.group.rejoin(this.partitions);
      this.rejoinedFor = this.partitions;
      this.reconcile();
    } catch (err) {
      this.logger.warn(`following the partition count failed: ${(err as Error).message}`);
    } finally {
      this.resizing = false;
    }
  }

  /**
   * Safety net of the leader: when the stable group leaves partitions to nobody at two
   * checkpoints in a row (its assignment was computed from stale metadata), rejoin.
   */
  private async checkCoverage(): Promise<void> {
    if (this.resizing || !this.group || this.rejoinedFor < this.partitions) return;
    if (await this.group.covers(this.partitions)) {
      this.uncovered = 0;
      return;
    }
    if (++this.uncovered < 2) return;
    this.uncovered = 0;
    this.logger.warn(
      `the group leaves some of the ${this.partitions} partitions to nobody: asking for a new assignment`,
    );
    this.rejoinedFor = 0;
    await this.followPartitions();
  }

  /**
   * Partition `p`'s checkpoint: `record`, or while its takeover still owes readings, where
   * that takeover began (a crash replays from there: readings may repeat, none is lost).
   */
  private checkpointOf(p: number, record: HandoverRecord): HandoverRecord {
    const o = this.owed.get(p);
    if (o === undefined) return record;
    const shift = this.run.pausedMs - o.pausedMs;
    const fleets = { ...record.fleets };
    for (const [id, at] of Object.entries(o.fleets)) {
      if (id in fleets) fleets[id] = Math.min(fleets[id], at + shift);
    }
    return { ...record, fleets };
  }

  /** Records where each owned partition has got to (the restart point after a crash). */
  private checkpoint(): void {
    if (!this.store || this.stopping) return;
    const horizon = this.labelHorizon();
    if (this.labelsPending.some((e) => e.at < horizon)) {
      this.labelsPending = this.labelsPending.filter((e) => e.at >= horizon);
    }
    void this.followPartitions();
    void this.checkCoverage().catch((err: Error) =>
      this.logger.warn(`checking the group's assignment failed: ${err.message}`),
    );
    const record = this.handoverRecord(false, Date.now());
    const writes: Promise<void>[] = [];
    for (const p of this.owned) {
      writes.push(this.store.write('handover', String(p), this.checkpointOf(p, record)));
    }
    writes.push(this.store.write('member', this.member, this.memberRecord()));
    void Promise.all(writes).catch((err: Error) =>
      this.logger.warn(`checkpoint failed: ${err.message}`),
    );
  }

  private memberRecord(): MemberRecord {
    let rate = 0;
    for (const f of this.fleets.all()) {
      const counts = this.devicesPerPartition(f);
      for (const p of this.owned) rate += ((counts[p] ?? 0) * 1000) / f.intervalMs;
    }
    return {
      member: this.member,
      partitions: [...this.owned].sort((a, b) => a - b),
      rate: Math.round(rate * 100) / 100,
      at: Date.now(),
    };
  }

  /**
   * How many of a fleet's devices each readings partition holds, counted again only when the
   * fleet's size or the partition count changed: every checkpoint asks, and counting 100,000
   * devices took ~2 % of the CPU of a flat-out run.
   */
  private devicesPerPartition(fleet: Fleet): Uint32Array {
    const n = fleet.devices.length;
    let known = this.partitionCounts.get(fleet);
    if (known === undefined || known.devices !== n || known.partitions !== this.partitions) {
      const counts = new Uint32Array(Math.max(0, this.partitions));
      for (const d of fleet.devices) counts[this.partitionOf(d)]++;
      known = { devices: n, partitions: this.partitions, counts };
      this.partitionCounts.set(fleet, known);
    }
    return known.counts;
  }

  /** The cluster as GET /api/v1/simulation shows it. */
  status() {
    // Members that stopped reporting (crashed) drop out after three checkpoints.
    const stale = Date.now() - 3 * this.config.config.cluster.checkpointMs;
    const members = new Map([...this.members].filter(([, m]) => m.at >= stale));
    members.set(this.member, this.memberRecord());
    return {
      name: this.name,
      member: this.member,
      partitions: this.partitions,
      members: [...members.values()].sort((a, b) => a.member.localeCompare(b.member)),
    };
  }

  /**
   * Clean leave: stop, flush, record where every owned partition stopped, leave the group —
   * within half of producer.shutdownFlushMs, so that a hung or unreachable broker cannot hold
   * the shutdown: the producer's own close then waits at most shutdownFlushMs and books what is
   * left, and the partitions move on as after a crash, from the last checkpoint.
   */
  async beforeApplicationShutdown(): Promise<void> {
    if (!this.enabled || !this.store) return;
    this.simulation.stop();
    const budget = Math.ceil(this.config.config.producer.shutdownFlushMs / 2);
    const leave = async () => {
      await Promise.allSettled([...this.releasing]);
      this.stopping = true;
      for (const t of this.timers) clearInterval(t);
      try {
        if (this.owned.size) await this.release([...this.owned]);
        await this.store!.write('member', this.member, null);
      } catch (err) {
        this.logger.warn(`clean handover failed: ${(err as Error).message}`);
      }
      await this.group?.leave();
    };
    if (!(await within(leave(), budget))) {
      this.stopping = true;
      for (const t of this.timers) clearInterval(t);
      this.logger.warn(
        `no clean handover within ${budget} ms (Kafka does not answer): the partitions move on from the last checkpoint`,
      );
    }
    // Requests still waiting for their record to be applied answer now (503): the HTTP
    // server's close, which comes next, waits for them.
    this.store.fail(
      new DomainError(
        'UNAVAILABLE',
        'fleetsim is shutting down: this member applies no more changes of the control topic',
      ),
    );
  }

  async onApplicationShutdown(): Promise<void> {
    await within(Promise.allSettled([this.store?.close(), this.group?.close()]), CLOSE_WAIT_MS);
  }
}

/**
 * Longest a change over REST (and a checkpoint) waits for its control record to be applied by
 * this member: past it, it answers 503 (the record is written; it applies once the member's
 * reader of the control topic is back). Above a broker's failover (about 9 s) and the reader's
 * first reopen.
 */
const APPLY_TIMEOUT_MS = 15_000;

/** How long closing the control store and the group may take at shutdown. */
const CLOSE_WAIT_MS = 3_000;

/** Whether `work` settled within `ms` (it goes on in the background otherwise). */
async function within(work: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const done = await Promise.race([
    work.then(
      () => true,
      () => true,
    ),
    new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), ms))),
  ]);
  clearTimeout(timer);
  return done;
}

/** The merge patch that does what `a` then `b` do (nulls kept: they delete). */
export function composePatches(
  a: Record<string, unknown>,
  b: Record<string, unknown>,
): Record<string, unknown> {
  const out: Record<string, unknown> = { ...a };
  for (const [key, value] of Object.entries(b)) {
    const before = out[key];
    const plain = (v: unknown): v is Record<string, unknown> =>
      typeof v === 'object' && v !== null && !Array.isArray(v);
    out[key] = plain(value) && plain(before) ? composePatches(before, value) : value;
  }
  return out;
}
