import type { Device, Fleet } from '../model/fleet.js';
import { SENSOR_INDEX, type SensorName } from '../model/sensor.table.js';

/** Rounds to two decimals, the precision every numeric reading carries. */
export const round2 = (v: number) => Math.round(v * 100) / 100;

/** Turns a device's latest reading into a Kafka message value. */
export interface ReadingSerializer {
  /** Media type of the values written. */
  readonly contentType: string;
  /** The value of the reading `d` just made at event time `ts` (ms since the epoch). */
  serialize(fleet: Fleet, d: Device, ts: number): Buffer;
  /** Forgets cached per-fleet state (when a fleet is removed). */
  forget(fleetId: string): void;
}

/**
 * Writes a device's latest reading as the JSON value documented in docs/reading.schema.json.
 * Built by string concatenation around per-device prefixes computed once, because this runs
 * for every message.
 */
export class JsonReadingSerializer implements ReadingSerializer {
  readonly contentType = 'application/json';
  private readonly writers = new Map<string, (d: Device) => string>();
  /** Each device's parts of the value that never change, built once. */
  private readonly parts = new WeakMap<Device, JsonParts>();

  serialize(fleet: Fleet, d: Device, ts: number): Buffer {
    let writeReadings = this.writers.get(fleet.id);
    if (!writeReadings) {
      writeReadings = readingsWriter(fleet.sensors);
      this.writers.set(fleet.id, writeReadings);
    }
    let parts = this.parts.get(d);
    if (!parts) {
      parts = jsonParts(d);
      this.parts.set(d, parts);
    }
    const label = d.lastLabel;
    const anomaly =
      label === null
        ? 'null'
        : `{"id":"${label.id}","kind":"${label.kind}","sensor":"${label.sensor}"}`;
    const text =
      parts.head +
      (d.seq - 1) +
      ',"ts":"' +
      this.isoTime(ts) +
      parts.place +
      writeReadings(d) +
      '},"anomaly":' +
      anomaly +
      '}';
    return Buffer.from(text, 'utf8');
  }

  /** Forgets cached per-fleet writers (when a fleet is removed). */
  forget(fleetId: string): void {
    this.writers.delete(fleetId);
  }

  /** The second `isoPrefix` belongs to. */
  private isoSecond = NaN;
  /** "YYYY-MM-DDTHH:MM:SS." of `isoSecond`. */
  private isoPrefix = '';

  /**
   * `new Date(ts).toISOString()`, from a cached prefix of the current second and a table of
   * milliseconds: readings of one second share everything up to the milliseconds, and building
   * a Date and its ISO string cost more than the rest of the value.
   */
  private isoTime(ts: number): string {
    const t = Math.trunc(ts); // what new Date(ts) keeps of a fractional time
    const second = Math.floor(t / 1000);
    if (second !== this.isoSecond) {
      // Throws RangeError for an invalid time, as toISOString does.
      this.isoPrefix = new Date(second * 1000).toISOString().slice(0, -4);
      this.isoSecond = second;
    }
    return this.isoPrefix + MILLIS_Z[t - second * 1000];
  }
}

/** The parts of a device's JSON value around its seq and time, which never change. */
export interface JsonParts {
  head: string;
  place: string;
}

export function jsonParts(d: Device): JsonParts {
  const { building, floor, room } = d.location;
  return {
    head: `{"deviceId":"${d.id}","fleetId":"${d.fleetId}","seq":`,
    place: `","location":{"building":${building},"floor":${floor},"room":${room}},"readings":{`,
  };
}

/** "000Z" … "999Z". */
const MILLIS_Z = Array.from({ length: 1000 }, (_, ms) => `${String(ms).padStart(3, '0')}Z`);

/** "", ".01" … ".09", ".1", ".11" … ".99": the fraction digits of a value in hundredths. */
const HUNDREDTHS = Array.from({ length: 100 }, (_, h) =>
  h === 0 ? '' : h % 10 === 0 ? `.${h / 10}` : h < 10 ? `.0${h}` : `.${h}`,
);

/**
 * `String(round2(v))` without converting a double to a string, the costliest step of writing
 * a reading: the integer part and the two fraction digits come from integers. Identical output
 * for |v| < 1e11 (far beyond every sensor's range); anything else takes the plain path.
 */
export function formatRound2(v: number): string {
  const k = Math.round(v * 100);
  if (!(k > -1e13 && k < 1e13)) return String(round2(v));
  const whole = Math.trunc(k / 100);
  const hundredths = k < 0 ? whole * 100 - k : k - whole * 100;
  return (k < 0 && whole === 0 ? '-0' : String(whole)) + HUNDREDTHS[hundredths];
}

/** A function writing the `readings` members of one fleet's sensors, in a fixed order. */
function readingsWriter(sensors: readonly SensorName[]): (d: Device) => string {
  const parts = sensors.map((s, j) => {
    const name = `${j ? ',' : ''}"${s}":`;
    if (s === 'switch') return (d: Device) => name + d.switchOn;
    const i = SENSOR_INDEX[s];
    return (d: Device) => name + formatRound2(d.values[i]);
  });
  return (d) => {
    let out = '';
    for (let i = 0; i < parts.length; i++) out += parts[i](d);
    return out;
  };
}

/** The reading as a plain object (for the REST API), matching the JSON value. */
export function readingObject(fleet: Fleet, d: Device) {
  const readings: Record<string, number | boolean> = {};
  for (const s of fleet.sensors) {
    readings[s] = s === 'switch' ? d.switchOn : round2(d.values[SENSOR_INDEX[s]]);
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
