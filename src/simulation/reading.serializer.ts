import { type Device, type Fleet, VALUES } from '../model/fleet.js';
import { SENSOR_INDEX } from '../model/sensor.table.js';
import type { ValueSlabs } from '../producer/outgoing.record.js';

/** Rounds to two decimals, the precision every numeric reading carries. */
export const round2 = (v: number) => Math.round(v * 100) / 100;

/** Turns a device's latest reading into a Kafka message value. */
export interface ReadingSerializer {
  /** Media type of the values written. */
  readonly contentType: string;
  /** The value of the reading `d` just made at event time `ts` (ms since the epoch). */
  serialize(fleet: Fleet, d: Device, ts: number): Buffer;
  /** Writes the same value as the next one of `out` (the hot path: no Buffer of its own). */
  write(fleet: Fleet, d: Device, ts: number, out: ValueSlabs): void;
  /** Forgets cached per-fleet state (when a fleet is removed). */
  forget(fleetId: string): void;
}

/** The bytes of an ASCII/UTF-8 string. */
const bytes = (s: string) => Buffer.from(s, 'utf8');

const TS_OPEN = bytes(',"ts":"');
const READINGS_CLOSE = bytes('},"anomaly":');
const NULL_CLOSE = bytes('null}');
const TRUE = bytes('true');
const FALSE = bytes('false');
const DOT = 0x2e;
const MINUS = 0x2d;
const ZERO = 0x30;
const Z = 0x5a;

/** Bytes at the start of a fleet's arena where its values are written. */
const SCRATCH_BYTES = 4096;

/**
 * One fleet's constant parts, as bytes: each sensor's `"name":` (with its comma), and each
 * device's `{"deviceId":"…","fleetId":"…","seq":` and `","location":{…},"readings":{`, which
 * depend only on the fleet and the device's ordinal (its id and place derive from them). The
 * devices' parts sit in one arena, found by ordinal, built on a device's first reading. The
 * arena starts with the scratch space values are written in, so a device's parts are copied
 * into it with copyWithin, which costs a fraction of a copy between two buffers.
 */
class FleetParts {
  readonly names: Buffer[];
  /** NUMERIC index of each sensor, -1 for the switch. */
  readonly indexes: Int32Array;
  /** Most bytes the readings' members take. */
  readonly readingsRoom: number;
  /** [0, scratch): where values are written; then the devices' parts. */
  arena = Buffer.allocUnsafeSlow(2 * SCRATCH_BYTES);
  scratch = SCRATCH_BYTES;
  private used = SCRATCH_BYTES;
  /** Per ordinal: start of the head, start of the place, end (0: not built yet). */
  spans = new Uint32Array(3 * 64);

  constructor(readonly fleet: Fleet) {
    this.names = fleet.sensors.map((s, j) => bytes(`${j ? ',' : ''}"${s}":`));
    this.indexes = Int32Array.from(fleet.sensors, (s) => (s === 'switch' ? -1 : SENSOR_INDEX[s]));
    this.readingsRoom = this.names.reduce((n, name) => n + name.length + 24, 0);
  }

  /** Bytes of the device's head and place (built on first use). */
  size(d: Device): number {
    const at = d.index * 3;
    if (at >= this.spans.length || this.spans[at + 2] === 0) this.build(d);
    return this.spans[at + 2] - this.spans[at];
  }

  /** Makes the scratch space at least `bytes` long. */
  reserve(bytes: number): void {
    if (bytes <= this.scratch) return;
    const shift = 2 * bytes - this.scratch;
    const grown = Buffer.allocUnsafeSlow(this.arena.length + shift);
    this.arena.copy(grown, this.scratch + shift, this.scratch, this.used);
    for (let k = 0; k < this.spans.length; k += 3) {
      if (this.spans[k + 2] === 0) continue;
      this.spans[k] += shift;
      this.spans[k + 1] += shift;
      this.spans[k + 2] += shift;
    }
    this.arena = grown;
    this.scratch += shift;
    this.used += shift;
  }

  /** Writes the device's head (after `size`) at `pos` of the scratch; returns the end. */
  head(d: Device, pos: number): number {
    const at = d.index * 3;
    const start = this.spans[at];
    const end = this.spans[at + 1];
    this.arena.copyWithin(pos, start, end);
    return pos + end - start;
  }

  /** Writes the device's place (after `size`) at `pos` of the scratch; returns the end. */
  place(d: Device, pos: number): number {
    const at = d.index * 3;
    const start = this.spans[at + 1];
    const end = this.spans[at + 2];
    this.arena.copyWithin(pos, start, end);
    return pos + end - start;
  }

  private build(d: Device): void {
    const { building, floor, room } = d.location;
    const head = bytes(`{"deviceId":"${d.id}","fleetId":"${d.fleetId}","seq":`);
    const place = bytes(
      `","location":{"building":${building},"floor":${floor},"room":${room}},"readings":{`,
    );
    const size = head.length + place.length;
    if (this.used + size > this.arena.length) {
      const grown = Buffer.allocUnsafeSlow(Math.max(2 * this.arena.length, this.used + size));
      this.arena.copy(grown, 0, 0, this.used);
      this.arena = grown;
    }
    const at = d.index * 3;
    if (at >= this.spans.length) {
      const grown = new Uint32Array(Math.max(2 * this.spans.length, at + 3));
      grown.set(this.spans);
      this.spans = grown;
    }
    this.spans[at] = this.used;
    this.used += head.copy(this.arena, this.used);
    this.spans[at + 1] = this.used;
    this.used += place.copy(this.arena, this.used);
    this.spans[at + 2] = this.used;
  }
}

/**
 * Writes the few bytes of `src` at `pos`; returns the position after them. For the short
 * constants of a value (names, punctuation, the time's prefix) a loop beats Buffer.copy,
 * whose call and checks cost more than copying 20 bytes.
 */
function put(out: Buffer, pos: number, src: Buffer): number {
  const n = src.length;
  for (let i = 0; i < n; i++) out[pos + i] = src[i];
  return pos + n;
}

/** Writes the decimal digits of a non-negative integer n (< 2^53) at `pos`; returns the end. */
function writeDigits(out: Buffer, pos: number, n: number): number {
  if (n < 10) {
    out[pos] = ZERO + n;
    return pos + 1;
  }
  let digits = 1;
  for (let p = 10; p <= n; p *= 10) digits++;
  const end = pos + digits;
  for (let i = end - 1; i >= pos; i--) {
    const q = Math.floor(n / 10);
    out[i] = ZERO + (n - q * 10);
    n = q;
  }
  return end;
}

/**
 * Writes `formatRound2(v)` at `pos` without making a string: sign, integer part, then the
 * hundredths without trailing zeros. Returns the position after it.
 */
function writeRound2(out: Buffer, pos: number, v: number): number {
  const k = Math.round(v * 100);
  if (!(k > -1e13 && k < 1e13)) return pos + out.write(String(round2(v)), pos, 'latin1');
  let a = k;
  if (k < 0) {
    out[pos++] = MINUS;
    a = -k;
  }
  const whole = Math.floor(a / 100);
  const hundredths = a - whole * 100;
  pos = writeDigits(out, pos, whole);
  if (hundredths !== 0) {
    out[pos++] = DOT;
    const tenths = Math.floor(hundredths / 10);
    out[pos++] = ZERO + tenths;
    const rest = hundredths - tenths * 10;
    if (rest !== 0) out[pos++] = ZERO + rest;
  }
  return pos;
}

/**
 * Writes a device's latest reading as the JSON value documented in docs/reading.schema.json.
 * Written as bytes into a scratch buffer, from per-device and per-fleet parts built once and
 * digits computed from integers, then copied out once: into the pipeline's value slabs
 * (`write`), or into a value of its own (`serialize`). This runs for every message, and strings
 * (concatenation, then UTF-8 encoding) cost several times as much.
 */
export class JsonReadingSerializer implements ReadingSerializer {
  readonly contentType = 'application/json';
  private readonly fleets = new Map<string, FleetParts>();
  /** The fleet of the previous reading: readings come fleet by fleet. */
  private last?: FleetParts;

  serialize(fleet: Fleet, d: Device, ts: number): Buffer {
    const n = this.compose(fleet, d, ts);
    const value = Buffer.allocUnsafe(n);
    this.last!.arena.copy(value, 0, 0, n);
    return value;
  }

  write(fleet: Fleet, d: Device, ts: number, out: ValueSlabs): void {
    const n = this.compose(fleet, d, ts);
    out.put(this.last!.arena, 0, n);
  }

  /** Writes the value at the start of its fleet's arena (`this.last`); returns its length. */
  private compose(fleet: Fleet, d: Device, ts: number): number {
    let parts = this.last;
    if (parts?.fleet !== fleet) {
      parts = this.fleets.get(fleet.id);
      if (parts?.fleet !== fleet) {
        parts = new FleetParts(fleet);
        this.fleets.set(fleet.id, parts);
      }
      this.last = parts;
    }
    const label = d.lastLabel;
    const anomaly =
      label === null
        ? undefined
        : `{"id":"${label.id}","kind":"${label.kind}","sensor":"${label.sensor}"}}`;
    // Room for the widest reading: head and place, the readings (names and at most 24 bytes
    // a number), the time (at most 30 bytes) and the label.
    parts.reserve(
      parts.size(d) + parts.readingsRoom + 64 + (anomaly === undefined ? 0 : 3 * anomaly.length),
    );
    const out = parts.arena;

    let pos = parts.head(d, 0);
    const seq = d.seq - 1; // -1 before the device's first reading
    if (seq < 0) out[pos++] = MINUS;
    pos = writeDigits(out, pos, seq < 0 ? -seq : seq);
    pos = put(out, pos, TS_OPEN);
    pos = this.writeIsoTime(out, pos, ts);
    pos = parts.place(d, pos);
    const names = parts.names;
    const indexes = parts.indexes;
    const state = d.state;
    const values = d.at + VALUES;
    for (let j = 0; j < names.length; j++) {
      pos = put(out, pos, names[j]);
      const i = indexes[j];
      if (i < 0) pos = put(out, pos, d.switchOn ? TRUE : FALSE);
      else pos = writeRound2(out, pos, state[values + i]);
    }
    pos = put(out, pos, READINGS_CLOSE);
    if (anomaly === undefined) pos = put(out, pos, NULL_CLOSE);
    else pos += out.write(anomaly, pos, 'utf8');
    return pos;
  }

  /** Forgets cached per-fleet parts (when a fleet is removed). */
  forget(fleetId: string): void {
    this.fleets.delete(fleetId);
    if (this.last?.fleet.id === fleetId) this.last = undefined;
  }

  /** The second `isoPrefix` belongs to. */
  private isoSecond = NaN;
  /** "YYYY-MM-DDTHH:MM:SS." of `isoSecond`, as bytes. */
  private isoPrefix = Buffer.alloc(0);

  /**
   * Writes `new Date(ts).toISOString()` from a cached prefix of the current second and the
   * milliseconds' three digits: readings of one second share everything up to the
   * milliseconds, and building a Date and its ISO string cost more than the rest of the value.
   */
  private writeIsoTime(out: Buffer, pos: number, ts: number): number {
    const t = Math.trunc(ts); // what new Date(ts) keeps of a fractional time
    const second = Math.floor(t / 1000);
    if (second !== this.isoSecond) {
      // Throws RangeError for an invalid time, as toISOString does.
      this.isoPrefix = bytes(new Date(second * 1000).toISOString().slice(0, -4));
      this.isoSecond = second;
    }
    pos = put(out, pos, this.isoPrefix);
    const ms = t - second * 1000;
    const hundreds = Math.floor(ms / 100);
    const tens = Math.floor((ms - hundreds * 100) / 10);
    out[pos] = ZERO + hundreds;
    out[pos + 1] = ZERO + tens;
    out[pos + 2] = ZERO + (ms - hundreds * 100 - tens * 10);
    out[pos + 3] = Z;
    return pos + 4;
  }
}

/** Scratch of formatRound2. */
const ROUND2_SCRATCH = Buffer.alloc(64);

/** `String(round2(v))`, as the serializer writes it (see writeRound2). */
export function formatRound2(v: number): string {
  return ROUND2_SCRATCH.toString('latin1', 0, writeRound2(ROUND2_SCRATCH, 0, v));
}

/** The reading as a plain object (for the REST API), matching the JSON value. */
export function readingObject(fleet: Fleet, d: Device) {
  const readings: Record<string, number | boolean> = {};
  const values = d.values;
  for (const s of fleet.sensors) {
    readings[s] = s === 'switch' ? d.switchOn : round2(values[SENSOR_INDEX[s]]);
  }
  const label = d.lastLabel;
  return {
    seq: d.seq - 1,
    ts: new Date(d.lastTs).toISOString(),
    sent: d.lastSent,
    readings,
    anomaly: label ? { id: label.id, kind: label.kind, sensor: label.sensor } : null,
  };
}
