import { type AnomalyKind, KIND_SENSORS, defaultMagnitude } from '../model/anomaly.js';
import { DEVIATION, type Device, type Fleet, VALUES } from '../model/fleet.js';
import { roomCount } from '../model/layout.js';
import { hashUnit, mix32 } from '../model/random.js';
import {
  NUMERIC_MODELS,
  SENSOR_INDEX,
  type SensorName,
  switchSensor,
} from '../model/sensor.table.js';
import type { TrendContext } from '../model/sensors/sensor.model.js';

/** Generation settings; read at every reading so changes apply at the next tick. */
export interface GenerationParams {
  dataVariation: number;
  trendEnabled: boolean;
  trendStrength: number;
  anomalyRate: number;
}

const TEMPERATURE = SENSOR_INDEX.temperature;
const CURRENT = SENSOR_INDEX.current;
const NUMERIC = NUMERIC_MODELS.length;

/** Lag-1 autocorrelation of a device's own deviation: values move, they do not jump. */
export const SMOOTHING = 0.9;
const INNOVATION = Math.sqrt(1 - SMOOTHING * SMOOTHING);
/** Knot spacing of the room environment's noise. */
const ROOM_PERIOD_MS = 20 * 60_000;
/** Degrees of warming per ampere above the mean current, at full trend strength. */
const LOAD_HEATING = 2;
/** Mean length of a random anomaly, in readings (drawn uniformly from 3 … 12). */
const RANDOM_MIN_READINGS = 3;
const RANDOM_SPAN_READINGS = 10;
const RANDOM_MEAN_READINGS = RANDOM_MIN_READINGS + (RANDOM_SPAN_READINGS - 1) / 2;
const RANDOM_KINDS: readonly AnomalyKind[] = [
  'spike',
  'drift',
  'stuck',
  'noise',
  'flapping',
  'overcurrent',
];

function gaussAt(seed: number, stream: number, knot: number): number {
  // Box-Muller from two hashed uniforms: a standard normal fixed for (seed, stream, knot).
  const u = hashUnit(seed, stream, knot * 2) || 1e-12;
  const v = hashUnit(seed, stream, knot * 2 + 1);
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
}

/**
 * The room's shared environment for one sensor: a standard normal that drifts smoothly with
 * event time (unit variance everywhere: cos/sin blend of the knots' normals). A pure function
 * of (fleet seed, room, sensor, time), so every device in the room sees the same value.
 */
export function roomNoise(seed: number, roomKey: number, sensor: number, ts: number): number {
  const x = ts / ROOM_PERIOD_MS;
  const k = Math.floor(x);
  const a = (Math.PI / 2) * (x - k);
  const stream = mix32(roomKey * 8 + sensor);
  return Math.cos(a) * gaussAt(seed, stream, k) + Math.sin(a) * gaussAt(seed, stream, k + 1);
}

const clamp = (v: number, lo: number, hi: number) => (v < lo ? lo : v > hi ? hi : v);

/**
 * One fleet's room environments at their current knots, by room ordinal: `roomNoise` without
 * its two hashed normals per reading (the costliest part of a reading), which stay the same
 * for every reading of a room between two knots (20 minutes of event time). For room r and
 * numeric sensor i, `normals[(r × sensors + i) × 2]` and `+ 1` are the normals at knots
 * `knots[r]` and `knots[r] + 1`. A cache of pure values: readings are the same with it.
 */
class RoomKnots {
  readonly rooms: number;
  readonly knots: Float64Array;
  readonly normals: Float64Array;

  constructor(fleet: Fleet) {
    this.rooms = roomCount(fleet.layout);
    this.knots = new Float64Array(this.rooms).fill(NaN);
    this.normals = new Float64Array(this.rooms * NUMERIC_MODELS.length * 2);
  }

  /**
   * Brings room `r`'s knots to knot `k` (a device of the room gives the room's key): after it,
   * roomNoise(seed, roomKey, i, ts) = cos(a) × normals[(r × sensors + i) × 2] + sin(a) ×
   * normals[… + 1], with k and a as `roomNoise` derives them from ts.
   */
  at(seed: number, d: Device, r: number, k: number): void {
    if (this.knots[r] === k) return;
    const roomKey = d.roomKey;
    for (let i = 0; i < NUMERIC_MODELS.length; i++) {
      if (NUMERIC_MODELS[i].roomShare <= 0) continue;
      const stream = mix32(roomKey * 8 + i);
      const j = (r * NUMERIC_MODELS.length + i) * 2;
      this.normals[j] = gaussAt(seed, stream, k);
      this.normals[j + 1] = gaussAt(seed, stream, k + 1);
    }
    this.knots[r] = k;
  }
}

const roomKnots = new WeakMap<Fleet, RoomKnots>();
/** The fleet of the previous reading and its knots: readings come fleet by fleet. */
let lastFleet: Fleet | undefined;
let lastKnots: RoomKnots | undefined;

function knotsOf(fleet: Fleet): RoomKnots {
  if (fleet === lastFleet) return lastKnots!;
  let knots = roomKnots.get(fleet);
  if (!knots) {
    knots = new RoomKnots(fleet);
    roomKnots.set(fleet, knots);
  }
  lastFleet = fleet;
  lastKnots = knots;
  return knots;
}

/** The trend functions' argument, reused: they read it and keep nothing. */
const trendContext: TrendContext = { ts: 0, strength: 0, seed: 0 };

/**
 * Advances a device by one reading at event time `ts`: updates its numeric values, switch
 * state, anomalies and seq. Returns false when the device is silent (dropout) — the seq still
 * advances, so consumers see the gap.
 */
export function generateReading(fleet: Fleet, d: Device, ts: number, p: GenerationParams): boolean {
  const strength = p.trendEnabled ? p.trendStrength : 0;
  const variation = p.dataVariation;
  const ctx = trendContext;
  ctx.ts = ts;
  ctx.strength = strength;
  ctx.seed = fleet.seed;

  // Random draws happen in a fixed order every reading, so a device's stream depends only on
  // its seed and event times.
  const state = d.state;
  const dev = d.at + DEVIATION;
  for (let i = 0; i < NUMERIC; i++) {
    state[dev + i] = SMOOTHING * state[dev + i] + INNOVATION * d.normal();
  }
  const uSwitch = d.uniform();
  const uAnomaly = d.uniform();
  const uPick = d.uniform();
  const zBurst = d.normal();

  // The room's environment (roomNoise) at this time: one blend of its knots for every sensor.
  const knots = knotsOf(fleet);
  const x = ts / ROOM_PERIOD_MS;
  const k = Math.floor(x);
  const a = (Math.PI / 2) * (x - k);
  const r = d.index % knots.rooms;
  knots.at(fleet.seed, d, r, k);
  const cosA = Math.cos(a);
  const sinA = Math.sin(a);
  const normals = knots.normals;
  const values = d.at + VALUES;
  for (let i = 0; i < NUMERIC; i++) {
    const m = NUMERIC_MODELS[i];
    let spread = state[dev + i];
    if (m.roomShare > 0) {
      const j = (r * NUMERIC + i) * 2;
      spread =
        Math.sqrt(m.roomShare) * (cosA * normals[j] + sinA * normals[j + 1]) +
        Math.sqrt(1 - m.roomShare) * spread;
    }
    state[values + i] = m.mean + (strength > 0 ? m.trend(ctx) : 0) + m.sd * variation * spread;
  }
  if (strength > 0) {
    // Machines under load warm their surroundings.
    state[values + TEMPERATURE] +=
      LOAD_HEATING * strength * (state[values + CURRENT] - NUMERIC_MODELS[CURRENT].mean);
  }

  const target = switchSensor.targetOn(ts, p.trendEnabled, p.trendStrength);
  const leaveOn = switchSensor.leaveOn;
  const enterOn = Math.min(1, (leaveOn * target) / (1 - target));
  d.switchOn = d.switchOn ? uSwitch >= leaveOn : uSwitch < enterOn;

  if (d.effects !== null) pruneEffects(d, ts);
  if (p.anomalyRate > 0 && d.effects === null) {
    // Start probability that makes about `anomalyRate` of all readings anomalous.
    const start = p.anomalyRate / (RANDOM_MEAN_READINGS * (1 - p.anomalyRate));
    if (uAnomaly < start) startRandomAnomaly(fleet, d, ts, uPick, uAnomaly / start);
  }

  let sent = true;
  d.lastLabel = null;
  if (d.effects !== null) sent = applyEffects(d, ts, variation, zBurst);

  for (let i = 0; i < NUMERIC; i++) {
    const m = NUMERIC_MODELS[i];
    state[values + i] = clamp(state[values + i], m.min, m.max);
  }
  d.seq++;
  d.lastTs = ts;
  d.lastSent = sent;
  return sent;
}

function startRandomAnomaly(
  fleet: Fleet,
  d: Device,
  ts: number,
  uPick: number,
  uLen: number,
): void {
  const kinds = RANDOM_KINDS.filter((k) => KIND_SENSORS[k].some((s) => fleet.sensors.includes(s)));
  if (kinds.length === 0) return;
  const kind = kinds[Math.floor(uPick * kinds.length)];
  const sensors = KIND_SENSORS[kind].filter((s) => fleet.sensors.includes(s));
  const sensor = sensors[Math.floor(((uPick * kinds.length) % 1) * sensors.length)];
  const readings = RANDOM_MIN_READINGS + Math.floor(uLen * RANDOM_SPAN_READINGS);
  d.addEffect({
    id: `random-${d.id}-${d.seq}`,
    kind,
    sensor,
    magnitude: defaultMagnitude(kind, sensor),
    startsAt: ts,
    // Ends just before the reading `readings` intervals later.
    endsAt: ts + (readings - 0.5) * fleet.intervalMs,
  });
}

/** Forgets the anomalies that ended by `ts`; the device is back to normal by itself. */
function pruneEffects(d: Device, ts: number): void {
  const effects = d.effects!;
  if (effects.every((e) => ts < e.endsAt)) return;
  const left = effects.filter((e) => ts < e.endsAt);
  d.effects = left.length ? left : null;
}

/** Applies the device's active anomalies; returns false when one silences it. */
function applyEffects(d: Device, ts: number, variation: number, z: number): boolean {
  let sent = true;
  const state = d.state;
  const values = d.at + VALUES;
  for (const e of d.effects!) {
    if (ts < e.startsAt) continue;
    d.lastLabel ??= e;
    const i = (SENSOR_INDEX as Record<string, number>)[e.sensor];
    const model = NUMERIC_MODELS[i];
    switch (e.kind) {
      case 'spike':
      case 'overcurrent':
        state[values + i] += e.magnitude;
        break;
      case 'drift': {
        const progress = (ts - e.startsAt) / Math.max(1, e.endsAt - e.startsAt);
        state[values + i] += e.magnitude * Math.min(1, progress + 0.1);
        break;
      }
      case 'noise':
        state[values + i] += model.sd * Math.max(variation, 0.2) * e.magnitude * z;
        break;
      case 'stuck':
        if (e.sensor === 'switch') {
          e.stuckValue ??= d.switchOn ? 1 : 0;
          d.switchOn = e.stuckValue === 1;
        } else {
          e.stuckValue ??= d.lastTs >= 0 ? state[values + i] : model.mean;
          state[values + i] = e.stuckValue;
        }
        break;
      case 'flapping':
        d.switchOn = d.seq % 2 === 0;
        break;
      case 'dropout':
        sent = false;
        break;
    }
  }
  return sent;
}

export type { SensorName };
