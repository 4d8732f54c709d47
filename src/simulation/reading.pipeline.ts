import type { BackpressurePolicy, ValueFormat } from '../config/fleetsim.config.js';
import { SERIALIZATION_SAMPLE_EVERY } from '../metrics/fleetsim.metrics.js';
import type { Device, Fleet } from '../model/fleet.js';
import {
  type OutgoingRecord,
  type RecordHeaders,
  releaseValue,
  ValueSlabs,
} from '../producer/outgoing.record.js';
import { FramedSerializer } from './confluent.framing.js';
import { ProtobufReadingSerializer } from './protobuf.serializer.js';
import { ReadingHeaders } from './reading.headers.js';
import { type GenerationParams, generateReading } from './reading.generator.js';
import { JsonReadingSerializer, type ReadingSerializer } from './reading.serializer.js';

/** Overrides of generation settings a scenario stage applies, for all fleets or one. */
export interface ParamOverrides {
  fleetId?: string;
  params: Partial<GenerationParams>;
}

/** Where readings go: the producer's entry point. */
export interface RecordOutlet {
  /** False while the producer's buffer is past its high-water mark. */
  readonly accepting: boolean;
  /**
   * Takes a record; false when it is not taken (dropped), and then not kept either: its value
   * may be written over. A taken record's value is released (`releaseValue`) once acknowledged.
   */
  offer(record: OutgoingRecord): boolean;
}

/**
 * Timings the pipeline reports, in seconds (histograms). (The schedule lag is the
 * scheduler's: SchedulerOptions.lag, once per tick and fleet.)
 */
export interface PipelineObserver {
  serialization: { observe(seconds: number): void };
}

/**
 * What the hot path needs of one fleet, looked up once per run of the fleet's readings (the
 * scheduler takes them fleet by fleet) instead of per reading.
 */
interface FleetOutlet {
  fleet: Fleet;
  /** The pipeline's `generation` these settings were read at. */
  generation: number;
  params: GenerationParams;
  topic: string | undefined;
  /** The headers of an unlabelled reading (undefined: headers off). */
  plain: RecordHeaders | undefined;
}

/**
 * Decides whether this process emits a due reading and may set its seq (cluster mode: the
 * device's partition is owned here; seq derives from the schedule). False: the slot is taken
 * but nothing is sent.
 */
export type ReadingGate = (fleet: Fleet, device: Device, scheduledAt: number) => boolean;

/** The settings the pipeline follows; `configure` takes new ones at any time. */
export interface PipelineSettings {
  valueFormat: ValueFormat;
  backpressure: BackpressurePolicy;
  params: GenerationParams;
  /** Whether records carry headers (content-type, fleet-id, schema, anomaly-kind). */
  headers: boolean;
  /** kafka.topic: a topic, or a template with `{fleetId}` (one topic per fleet). */
  topic: string;
  /** Confluent wire-format prefix of every value (kafka.schemaRegistry); unset: plain values. */
  framing?: Buffer;
}

/** The topic of a fleet's readings under kafka.topic; undefined: the configured topic itself. */
export function fleetTopic(topic: string, fleetId: string): string | undefined {
  return topic.includes('{fleetId}') ? topic.replaceAll('{fleetId}', fleetId) : undefined;
}

/** The serializer writing values in `format`, behind `framing` when given. */
export function serializerFor(format: ValueFormat, framing?: Buffer): ReadingSerializer {
  const plain = format === 'json' ? new JsonReadingSerializer() : new ProtobufReadingSerializer();
  return framing ? new FramedSerializer(plain, framing) : plain;
}

/**
 * The hot path, one call of `sink` per due reading: generate → serialize → offer to the
 * producer, with the generation settings in force for the fleet (the configured ones and the
 * scenario's overrides). Holds the schedule (returns false) under the `block` policy while
 * the producer is not accepting.
 */
export class ReadingPipeline {
  /** Writes message values in the configured valueFormat. */
  private serializer: ReadingSerializer;
  private settings: PipelineSettings;
  private overrides: ParamOverrides[] = [];
  private paramsByFleet = new Map<string, GenerationParams>();
  private serialized = 0;
  /** Where values are written (see ValueSlabs; recycled as the producer acknowledges). */
  private readonly slabs = new ValueSlabs(true);
  /** Per fleet id: see FleetOutlet; `last` is the fleet of the previous reading. */
  private readonly outlets = new Map<string, FleetOutlet>();
  private last?: FleetOutlet;
  /** Bumped whenever settings, overrides or headers change: outlets re-read theirs. */
  private generation = 0;
  /** Shared header objects, or undefined when headers are off. */
  private headers?: ReadingHeaders;
  /** Each fleet's topic under a topic template (empty without one). */
  private readonly topics = new Map<string, string>();
  private templated: boolean;
  /** Cluster mode: see ReadingGate; unset, every reading is emitted. */
  gate?: ReadingGate;

  constructor(
    private readonly producer: RecordOutlet,
    private readonly observer: PipelineObserver,
    settings: PipelineSettings,
  ) {
    this.settings = settings;
    this.serializer = serializerFor(settings.valueFormat, settings.framing);
    this.headers = settings.headers ? new ReadingHeaders(settings.valueFormat) : undefined;
    this.templated = fleetTopic(settings.topic, '') !== undefined;
  }

  /** The topic of a fleet's readings; undefined: the configured topic. */
  topicOf(fleetId: string): string | undefined {
    if (!this.templated) return undefined;
    let topic = this.topics.get(fleetId);
    if (topic === undefined) {
      topic = fleetTopic(this.settings.topic, fleetId)!;
      this.topics.set(fleetId, topic);
    }
    return topic;
  }

  /** Takes new settings; the overrides are recomputed for `fleets`. */
  configure(settings: PipelineSettings, fleets: readonly Fleet[]): void {
    if (
      settings.valueFormat !== this.settings.valueFormat ||
      !sameBytes(settings.framing, this.settings.framing)
    ) {
      this.serializer = serializerFor(settings.valueFormat, settings.framing);
    }
    if (!settings.headers) this.headers = undefined;
    else if (this.headers?.format !== settings.valueFormat) {
      this.headers = new ReadingHeaders(settings.valueFormat);
    }
    if (settings.topic !== this.settings.topic) {
      this.topics.clear();
      this.templated = fleetTopic(settings.topic, '') !== undefined;
    }
    this.settings = settings;
    this.recompute(fleets);
  }

  /** The hot path: one call per due reading. */
  readonly sink = (fleet: Fleet, device: Device, scheduledAt: number): boolean => {
    const producer = this.producer;
    if (!producer.accepting && this.settings.backpressure === 'block') return false;
    if (this.gate !== undefined && !this.gate(fleet, device, scheduledAt)) return true;
    this.emit(fleet, device, scheduledAt);
    return true;
  };

  /** Generates, serializes and offers one reading of `device` at event time `scheduledAt`. */
  emit(fleet: Fleet, device: Device, scheduledAt: number): void {
    let out = this.last;
    if (out === undefined || out.fleet !== fleet || out.generation !== this.generation) {
      out = this.outletOf(fleet);
    }
    if (!generateReading(fleet, device, scheduledAt, out.params)) return;
    const hash = device.keyHash();
    const label = device.lastLabel;
    const slabs = this.slabs;
    this.serialize(fleet, device, scheduledAt, slabs);
    // Every field, in one order: records share one shape from the start (the producer sets
    // partition and lane).
    const record: OutgoingRecord = {
      key: device.key!,
      slab: slabs.slab,
      valueStart: slabs.start,
      valueEnd: slabs.end,
      hash,
      topic: out.topic,
      partition: 0,
      lane: undefined,
      scheduledAt,
      headers: label === null ? out.plain : this.headers?.of(fleet.id, label.kind),
      receipt: undefined,
      owner: slabs.current,
    };
    // Not taken (dropped): nothing else reads the value.
    if (!this.producer.offer(record)) releaseValue(record);
  }

  /** The fleet's outlet, made or brought up to date, and remembered as the last one. */
  private outletOf(fleet: Fleet): FleetOutlet {
    let out = this.outlets.get(fleet.id);
    if (out === undefined || out.fleet !== fleet) {
      out = {
        fleet,
        generation: -1,
        params: this.settings.params,
        topic: undefined,
        plain: undefined,
      };
      this.outlets.set(fleet.id, out);
    }
    if (out.generation !== this.generation) {
      out.params = this.paramsByFleet.get(fleet.id) ?? this.settings.params;
      out.topic = this.templated ? this.topicOf(fleet.id) : undefined;
      out.plain = this.headers?.of(fleet.id, null);
      out.generation = this.generation;
    }
    this.last = out;
    return out;
  }

  /**
   * Serializes a reading as the next value of `slabs`, timing one in SERIALIZATION_SAMPLE_EVERY
   * to keep the cost per message flat.
   */
  private serialize(fleet: Fleet, device: Device, scheduledAt: number, slabs: ValueSlabs): void {
    if ((++this.serialized & (SERIALIZATION_SAMPLE_EVERY - 1)) !== 0) {
      this.serializer.write(fleet, device, scheduledAt, slabs);
      return;
    }
    const started = performance.now();
    this.serializer.write(fleet, device, scheduledAt, slabs);
    this.observer.serialization.observe((performance.now() - started) / 1000);
  }

  /** Replaces the scenario overrides; they apply from the next reading. */
  setOverrides(overrides: ParamOverrides[], fleets: readonly Fleet[]): void {
    this.overrides = overrides;
    this.recompute(fleets);
  }

  /** Generation settings in force for a fleet. */
  paramsFor(fleetId: string): GenerationParams {
    return this.paramsByFleet.get(fleetId) ?? this.settings.params;
  }

  /** The configured generation settings, without overrides. */
  get baseParams(): GenerationParams {
    return this.settings.params;
  }

  /** Forgets a removed fleet's cached state. */
  forget(fleetId: string): void {
    this.serializer.forget(fleetId);
    this.headers?.forget(fleetId);
    this.topics.delete(fleetId);
    this.paramsByFleet.delete(fleetId);
    this.outlets.delete(fleetId);
    this.last = undefined;
  }

  /** Recomputes the settings of each fleet from the configured ones and the overrides. */
  recompute(fleets: readonly Fleet[]): void {
    this.generation++;
    const base = this.settings.params;
    this.paramsByFleet.clear();
    for (const fleet of fleets) {
      let params = base;
      for (const o of this.overrides) {
        if (!o.fleetId || o.fleetId === fleet.id) params = { ...params, ...o.params };
      }
      if (params !== base) this.paramsByFleet.set(fleet.id, params);
    }
  }
}

const sameBytes = (a?: Buffer, b?: Buffer) => (a && b ? a.equals(b) : a === b);
