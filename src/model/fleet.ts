import type { AnomalyEffect } from './anomaly.js';
import { deriveSeed, Rng } from './random.js';
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
 * Devices' numeric state arrays, handed out as views into shared 64 KiB buffers: a small typed
 * array of its own costs an ArrayBuffer object and its elements besides the view (~300 bytes a
 * device more with two arrays, ~30 MB for 100,000 devices). A buffer lives while any view of
 * it does; the state of removed devices is not reused.
 */
const STATE_CHUNK_ARRAYS = 1024;
let stateChunk: ArrayBuffer | undefined;
let stateUsed = STATE_CHUNK_ARRAYS;

function stateArray(): Float64Array {
  const length = NUMERIC_SENSORS.length;
  if (stateUsed === STATE_CHUNK_ARRAYS) {
    stateChunk = new ArrayBuffer(STATE_CHUNK_ARRAYS * length * Float64Array.BYTES_PER_ELEMENT);
    stateUsed = 0;
  }
  const view = new Float64Array(
    stateChunk!,
    stateUsed * length * Float64Array.BYTES_PER_ELEMENT,
    length,
  );
  stateUsed++;
  return view;
}

/**
 * One simulated device: identity, place, its own random stream and the state its sensors
 * carry from one reading to the next.
 */
export class Device {
  readonly id: string;
  readonly location: Location;
  /** Random stream derived from the fleet seed and the device ordinal only. */
  readonly rng: Rng;
  /** Per-device AR(1) deviations of the numeric sensors, in units of their sd. */
  readonly deviation = stateArray();
  /** Latest numeric values (NUMERIC_SENSORS order). */
  readonly values = stateArray();
  switchOn = true;
  /** Next sequence number; the last reading had seq - 1. */
  seq = 0;
  /** Event time of the last reading, or -1. */
  lastTs = -1;
  /** Whether the last reading was sent (false during a dropout). */
  lastSent = false;
  /** Anomalies acting on this device now, or null (the common case). */
  effects: AnomalyEffect[] | null = null;
  /** The label of the last reading. */
  lastLabel: AnomalyEffect | null = null;

  constructor(
    readonly fleetId: string,
    readonly index: number,
    layout: Layout,
    seed: number,
  ) {
    this.location = locate(layout, index);
    this.id = deviceId(fleetId, this.location, index);
    this.rng = new Rng(deriveSeed(seed, index));
    // Start every deviation from its stationary distribution so the first readings are typical.
    for (let i = 0; i < this.deviation.length; i++) this.deviation[i] = this.rng.normal();
    this.switchOn = this.rng.next() < 0.8;
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
    for (let i = this.devices.length; i < count; i++) {
      this.devices.push(new Device(this.id, i, this.layout, this.seed));
    }
  }

  /** Messages per second this fleet emits. */
  get targetRate(): number {
    return (this.devices.length * 1000) / this.intervalMs;
  }
}
