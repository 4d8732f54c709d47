import type { AnomalyEffect } from './anomaly.js';
import { fnv1a32Bytes } from './fnv1a.js';
import { phaseSorted } from './phase.js';
import { deriveSeed, RNG_WORDS, sfcNormal, sfcSeed, sfcUniform } from './random.js';
import { NUMERIC_SENSORS, type SensorName } from './sensor.table.js';
import { deviceId, type Layout, type Location, locate } from './layout.js';

/** What defines a fleet. */
export interface FleetSpec {
  id: string;
  name: string;
  deviceCount: number;
  intervalMs: number;
  sensors: SensorName[];
  layout: Layout;
  seed: number;
  /** When the fleet was created (default: now). */
  createdAt?: Date;
  /**
   * Cluster mode: the time of cycle 0 of the fleet's schedule, shared by every process, so
   * slots and seq numbers derive from the schedule (seq = cycle index) wherever a device runs.
   */
  anchorMs?: number;
}

/**
 * Where a device keeps the state a reading reads and writes: one slot of float64s in a chunk
 * shared by DEVICES_PER_CHUNK devices (a typed array of its own per device would cost an
 * ArrayBuffer object and a view besides its elements). A slot is 2 × 64 bytes: its random
 * generator (sfc32 words, the cached normal), the key's hash, then the deviations and the
 * values. A fleet's devices are read in phase order, which jumps across the fleet, so each
 * reading finds its device's state out of the CPU caches: the fewer separate objects it
 * touches, the faster it is (separate generator objects, boxed fields and per-device views
 * cost ~20 % of the hot path at 100,000 devices). Offsets within a slot:
 */
const NUMERIC = NUMERIC_SENSORS.length;
/** Int32 words of the generator (see random.ts), at the slot's first word. */
const RNG_WORD = 0;
/** Int32 word of the key's FNV-1a hash (valid once `Device.key` is set). */
const HASH_WORD = RNG_WORDS;
/** Float64 of the generator's cached normal (after the 8 words). */
const SPARE = 4;
/** Float64 of the last reading's event time (-1: none yet). */
const LAST_TS = 5;
/** Float64s of the deviations, then of the values. */
export const DEVIATION = 8;
export const VALUES = DEVIATION + NUMERIC;
/** Float64s a slot takes: a whole number of 64-byte lines. */
const SLOT = Math.ceil((VALUES + NUMERIC) / 8) * 8;
const DEVICES_PER_CHUNK = 1024;
let chunk: Float64Array<ArrayBuffer> | undefined;
let chunkWords: Int32Array<ArrayBuffer> | undefined;
let chunkUsed = DEVICES_PER_CHUNK;

/**
 * One simulated device: identity, place, its own random stream and the state its sensors
 * carry from one reading to the next. The state of removed devices is not reused: a chunk
 * lives while any of its devices does.
 */
export class Device {
  readonly id: string;
  readonly location: Location;
  /** The chunk this device's state slot is in (shared with other devices; see SLOT). */
  readonly state: Float64Array<ArrayBuffer>;
  /** The same chunk as Int32 words (the generator's state, the key's hash). */
  readonly words: Int32Array<ArrayBuffer>;
  /** Where the slot starts in `state` (in `words`: twice that). */
  readonly at: number;
  switchOn = true;
  /** Next sequence number; the last reading had seq - 1. */
  seq = 0;
  /** Whether the last reading was sent (false during a dropout). */
  lastSent = false;
  /** Anomalies acting on this device now, or null (the common case). */
  effects: AnomalyEffect[] | null = null;
  /** The label of the last reading. */
  lastLabel: AnomalyEffect | null = null;
  /** The Kafka key (the id's UTF-8 bytes), made by `keyHash` on first use. */
  key: Buffer | undefined = undefined;

  constructor(
    readonly fleetId: string,
    readonly index: number,
    layout: Layout,
    seed: number,
  ) {
    this.location = locate(layout, index);
    this.id = deviceId(fleetId, this.location, index);
    if (chunkUsed === DEVICES_PER_CHUNK) {
      chunk = new Float64Array(DEVICES_PER_CHUNK * SLOT);
      chunkWords = new Int32Array(chunk.buffer);
      chunkUsed = 0;
    }
    this.state = chunk!;
    this.words = chunkWords!;
    this.at = chunkUsed++ * SLOT;
    this.state[this.at + LAST_TS] = -1;
    const w = this.at * 2 + RNG_WORD;
    sfcSeed(this.words, w, deriveSeed(seed, index));
    // Start every deviation from its stationary distribution so the first readings are typical.
    for (let i = 0; i < NUMERIC; i++) this.state[this.at + DEVIATION + i] = this.normal();
    this.switchOn = this.uniform() < 0.8;
  }

  /** Event time of the last reading, or -1 (kept in the state slot: a double field is boxed). */
  get lastTs(): number {
    return this.state[this.at + LAST_TS];
  }

  set lastTs(ts: number) {
    this.state[this.at + LAST_TS] = ts;
  }

  /** Per-device AR(1) deviations of the numeric sensors, in units of their sd (a view). */
  get deviation(): Float64Array<ArrayBuffer> {
    return this.state.subarray(this.at + DEVIATION, this.at + DEVIATION + NUMERIC);
  }

  /** Latest numeric values, NUMERIC_SENSORS order (a view of the state). */
  get values(): Float64Array<ArrayBuffer> {
    return this.state.subarray(this.at + VALUES, this.at + VALUES + NUMERIC);
  }

  /** The device's next uniform number in [0, 1) from its own random stream. */
  uniform(): number {
    return sfcUniform(this.words, this.at * 2 + RNG_WORD);
  }

  /** The device's next standard normal from its own random stream. */
  normal(): number {
    return sfcNormal(this.words, this.at * 2 + RNG_WORD, this.state, this.at + SPARE);
  }

  /** FNV-1a hash of the device's Kafka key (making the key on first use; see `key`). */
  keyHash(): number {
    if (this.key === undefined) {
      const key = Buffer.from(this.id, 'utf8');
      this.words[this.at * 2 + HASH_WORD] = fnv1a32Bytes(key);
      this.key = key;
    }
    return this.words[this.at * 2 + HASH_WORD] >>> 0;
  }

  /** Stable key of the device's room, shared by every fleet with the same layout position. */
  get roomKey(): number {
    const { building, floor, room } = this.location;
    return (building * 1000 + floor) * 1000 + room;
  }

  addEffect(effect: AnomalyEffect): void {
    (this.effects ??= []).push(effect);
  }

  removeEffect(id: string): void {
    if (!this.effects) return;
    this.effects = this.effects.filter((e) => e.id !== id);
    if (this.effects.length === 0) this.effects = null;
  }
}

/** A named group of devices streaming at one interval. */
export class Fleet {
  readonly id: string;
  readonly name: string;
  readonly seed: number;
  readonly layout: Layout;
  readonly sensors: SensorName[];
  readonly createdAt: Date;
  intervalMs: number;
  /** See FleetSpec.anchorMs; undefined outside cluster mode. */
  anchorMs?: number;
  /**
   * Cluster mode: `[first device index, cycle]` of each scale-up, ascending: devices from that
   * index on were added at that cycle of the schedule, and count their seq from it (seq 0 is
   * their first slot, as in a standalone process).
   */
  slotBases?: Array<[number, number]>;
  devices: Device[] = [];

  constructor(spec: FleetSpec) {
    this.id = spec.id;
    this.name = spec.name;
    this.seed = spec.seed >>> 0;
    this.layout = spec.layout;
    this.sensors = spec.sensors;
    this.intervalMs = spec.intervalMs;
    this.createdAt = spec.createdAt ?? new Date();
    this.anchorMs = spec.anchorMs;
    this.resize(spec.deviceCount);
  }

  get deviceCount(): number {
    return this.devices.length;
  }

  /** Grows by adding the next ordinals, or shrinks by removing the highest ones. */
  resize(count: number): void {
    if (count < this.devices.length) {
      this.devices.length = count;
      return;
    }
    // Made in phase order (the order they report in), then added by ordinal.
    const from = this.devices.length;
    const made = new Array<Device | undefined>(count - from).fill(undefined);
    for (const i of phaseSorted(from, count)) {
      made[i - from] = new Device(this.id, i, this.layout, this.seed);
    }
    for (const d of made) this.devices.push(d!);
  }

  /** Messages per second this fleet emits. */
  get targetRate(): number {
    return (this.devices.length * 1000) / this.intervalMs;
  }
}
