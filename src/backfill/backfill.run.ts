import type { AnomalyKind } from '../model/anomaly.js';
import type { AnomalyEffect } from '../model/anomaly.js';
import type { Device, Fleet } from '../model/fleet.js';
import type { SensorName } from '../model/sensors/sensor.model.js';
import type { OutgoingRecord, RecordReceipt } from '../producer/outgoing.record.js';
import type { GenerationParams } from '../simulation/reading.generator.js';
import {
  type PipelineSettings,
  ReadingPipeline,
  type RecordOutlet,
} from '../simulation/reading.pipeline.js';
import type { AnomalyLabelRecord, LabelEvent } from '../anomalies/anomaly.labels.js';
import type { AnomalyTarget } from '../anomalies/anomaly.target.js';
import { EventTimeReadings } from './event-time.readings.js';

export const BACKFILL_STATES = ['running', 'done', 'cancelled', 'failed'] as const;
export type BackfillState = (typeof BACKFILL_STATES)[number];

/** "max" (as fast as the producer takes readings) or simulated seconds per wall second. */
export type Pace = 'max' | number;

/** An anomaly placed in the backfill's simulated time. */
export interface PlannedAnomaly {
  id: string;
  kind: AnomalyKind;
  sensor: SensorName;
  magnitude: number | null;
  target: AnomalyTarget;
  devices: Device[];
  startsAt: number;
  endsAt: number;
  scenario?: string;
  stage?: string;
}

/** A scenario stage placed in simulated time: its overrides apply to readings in [startsAt, endsAt). */
export interface PlannedStage {
  scenario: string;
  name: string;
  startsAt: number;
  endsAt: number;
  overrides: Partial<GenerationParams>;
}

export interface BackfillPlan {
  id: string;
  /** The backfill's own fleet: the same spec as the live one, its own device state. */
  fleet: Fleet;
  from: number;
  to: number;
  pace: Pace;
  /** Generation, format, headers and topic (a template gives the fleet its own topic). */
  settings: PipelineSettings;
  anomalies: PlannedAnomaly[];
  stages: PlannedStage[];
  /** The scenario placed in simulated time, if any. */
  scenario?: string;
}

/** What a run needs from the outside: the producer, the label topic, time. */
export interface BackfillDeps {
  producer: RecordOutlet;
  labels?: (label: AnomalyLabelRecord) => void;
  now(): number;
  /** Called when the run ends (done, cancelled or failed). */
  finished?(run: BackfillRun): void;
}

/** Per (topic, partition): the first and last offset the backfill's readings got. */
export interface WrittenRange {
  topic: string;
  partition: number;
  firstOffset: number;
  lastOffset: number;
}

/** Most wall time one slice of generation takes before it lets I/O run, in ms. */
const SLICE_MS = 20;
/** How long a held run (backpressure, pace) waits before it looks again, in ms. */
const WAIT_MS = 5;

const NO_TIMINGS = { scheduleLag: { observe() {} }, serialization: { observe() {} } };

/**
 * One backfill: generates the fleet's readings with event times in [from, to) in event-time
 * order, lazily, on its own devices, and offers them to the producer as fast as the pace and
 * the producer's backpressure (`accepting`) allow. Anomalies and scenario stages act by event
 * time. Done when every reading offered is delivered or failed.
 */
export class BackfillRun implements RecordReceipt {
  state: BackfillState = 'running';
  error?: string;
  /** Readings generated (including those a dropout silenced). */
  generated = 0;
  /** Records offered to the producer, delivered, failed. */
  offered = 0;
  deliveredRecords = 0;
  failedRecords = 0;
  readonly total: number;
  readonly startedAt: number;
  finishedAt?: number;
  private readonly readings: EventTimeReadings;
  private readonly pipeline: ReadingPipeline;
  private readonly written = new Map<string, WrittenRange>();
  private timer?: NodeJS.Timeout;
  private immediate?: NodeJS.Immediate;
  private generating = true;
  /** Anomaly starts and ends, and stage starts, in event-time order. */
  private readonly events: Array<{ at: number; run: () => void }>;
  private nextEvent = 0;
  private readonly openAnomalies = new Set<PlannedAnomaly>();

  constructor(
    readonly plan: BackfillPlan,
    private readonly deps: BackfillDeps,
  ) {
    this.readings = new EventTimeReadings(plan.fleet, plan.from, plan.to);
    this.total = this.readings.total;
    this.startedAt = deps.now();
    const outlet: RecordOutlet = {
      get accepting() {
        return deps.producer.accepting;
      },
      offer: (record: OutgoingRecord) => this.offer(record),
    };
    this.pipeline = new ReadingPipeline(outlet, NO_TIMINGS, plan.settings);
    this.pipeline.recompute([plan.fleet]);
    this.events = this.plannedEvents();
  }

  get id(): string {
    return this.plan.id;
  }

  /** Offsets written, per topic and partition (when the Kafka engine tells them). */
  writtenRanges(): WrittenRange[] {
    return [...this.written.values()].sort(
      (a, b) => a.topic.localeCompare(b.topic) || a.partition - b.partition,
    );
  }

  start(): void {
    this.schedule(0);
  }

  /** Stops generating; what was offered is still sent. False when it was not running. */
  cancel(): boolean {
    if (this.state !== 'running') return false;
    this.stopTimers();
    this.generating = false;
    for (const a of this.openAnomalies) this.label(a, 'cancelled', this.readings.ts || a.startsAt);
    this.openAnomalies.clear();
    this.finish('cancelled');
    return true;
  }

  // RecordReceipt: the producer tells what became of each record.
  delivered(): void {
    this.deliveredRecords++;
    this.settleIfDone();
  }

  failed(): void {
    this.failedRecords++;
    this.settleIfDone();
  }

  offset(topic: string, partition: number, offset: number): void {
    const k = `${topic}\0${partition}`;
    const w = this.written.get(k);
    if (!w) this.written.set(k, { topic, partition, firstOffset: offset, lastOffset: offset });
    else {
      if (offset < w.firstOffset) w.firstOffset = offset;
      if (offset > w.lastOffset) w.lastOffset = offset;
    }
  }

  private offer(record: OutgoingRecord): boolean {
    record.receipt = this;
    this.offered++;
    const taken = this.deps.producer.offer(record);
    if (!taken) this.failedRecords++;
    return taken;
  }

  private schedule(ms: number): void {
    if (ms <= 0) this.immediate = setImmediate(() => this.slice());
    else this.timer = setTimeout(() => this.slice(), ms);
  }

  private stopTimers(): void {
    clearTimeout(this.timer);
    if (this.immediate) clearImmediate(this.immediate);
    this.timer = undefined;
    this.immediate = undefined;
  }

  /** Generates for up to SLICE_MS, then yields; waits while held by backpressure or pace. */
  private slice(): void {
    this.timer = undefined;
    this.immediate = undefined;
    if (this.state !== 'running' || !this.generating) return;
    try {
      const until = performance.now() + SLICE_MS;
      const pace = this.plan.pace;
      const allowed =
        pace === 'max' ? Infinity : this.plan.from + (this.deps.now() - this.startedAt) * pace;
      const readings = this.readings;
      const sink = this.pipeline.sink;
      const producer = this.deps.producer;
      const fleet = this.plan.fleet;
      let n = 0;
      for (;;) {
        const next = readings.peek();
        if (next === Infinity) {
          this.endOfRange();
          return;
        }
        if (next > allowed)
          return this.schedule(Math.max(WAIT_MS, (next - allowed) / (pace as number)));
        if (!producer.accepting) return this.schedule(WAIT_MS);
        if ((++n & 255) === 0 && performance.now() >= until) return this.schedule(0);
        while (this.nextEvent < this.events.length && this.events[this.nextEvent].at <= next) {
          this.events[this.nextEvent++].run();
        }
        readings.advance();
        sink(fleet, readings.device, readings.ts);
        this.generated++;
      }
    } catch (err) {
      this.error = (err as Error).message;
      this.generating = false;
      this.finish('failed');
    }
  }

  /** Generation reached `to`: the remaining events in range happen, then wait for delivery. */
  private endOfRange(): void {
    while (this.nextEvent < this.events.length && this.events[this.nextEvent].at < this.plan.to) {
      this.events[this.nextEvent++].run();
    }
    this.generating = false;
    this.settleIfDone();
  }

  private settleIfDone(): void {
    if (this.state !== 'running' || this.generating) return;
    if (this.deliveredRecords + this.failedRecords < this.offered) return;
    if (this.failedRecords > 0) {
      this.error = `${this.failedRecords} of ${this.offered} records could not be delivered`;
      this.finish('failed');
    } else this.finish('done');
  }

  private finish(state: BackfillState): void {
    this.state = state;
    this.finishedAt = this.deps.now();
    this.deps.finished?.(this);
  }

  /** The anomaly and stage events of the plan, in event-time order. */
  private plannedEvents(): Array<{ at: number; run: () => void }> {
    const events: Array<{ at: number; order: number; run: () => void }> = [];
    for (const s of this.plan.stages) {
      events.push({
        at: s.startsAt,
        order: 0,
        run: () => this.pipeline.setOverrides([{ params: s.overrides }], [this.plan.fleet]),
      });
      events.push({
        at: s.endsAt,
        order: -1,
        run: () => this.pipeline.setOverrides([], [this.plan.fleet]),
      });
    }
    for (const a of this.plan.anomalies) {
      events.push({ at: a.startsAt, order: 1, run: () => this.startAnomaly(a) });
      events.push({ at: a.endsAt, order: -2, run: () => this.endAnomaly(a) });
    }
    // At one instant: anomalies end, then stages end, then stages start, then anomalies start.
    events.sort((x, y) => x.at - y.at || x.order - y.order);
    return events;
  }

  private startAnomaly(a: PlannedAnomaly): void {
    for (const device of a.devices) {
      const effect: AnomalyEffect = {
        id: a.id,
        kind: a.kind,
        sensor: a.sensor,
        magnitude: a.magnitude ?? 0,
        startsAt: a.startsAt,
        endsAt: a.endsAt,
      };
      device.addEffect(effect);
    }
    this.openAnomalies.add(a);
    this.label(a, 'injected', a.startsAt);
    this.label(a, 'started', a.startsAt);
  }

  private endAnomaly(a: PlannedAnomaly): void {
    if (!this.openAnomalies.delete(a)) return;
    // The generator forgets an effect by itself once a reading is past its end.
    this.label(a, 'ended', a.endsAt);
  }

  private label(a: PlannedAnomaly, event: LabelEvent, at: number): void {
    this.deps.labels?.({
      event,
      anomalyId: a.id,
      at: new Date(at).toISOString(),
      kind: a.kind,
      sensor: a.sensor,
      magnitude: a.magnitude,
      target: a.target,
      deviceCount: a.devices.length,
      devices: a.devices.slice(0, 100).map((d) => d.id),
      startsAt: new Date(a.startsAt).toISOString(),
      endsAt: new Date(a.endsAt).toISOString(),
      scenario: a.scenario ?? null,
      stage: a.stage ?? null,
      backfill: this.plan.id,
    });
  }
}
