import type { Device, Fleet } from '../devices/fleet.js';
import type { SensorName } from './sensors/sensor.model.js';

/** Where each numeric sensor's value sits in `Device.values`. */
export const SENSOR_INDEX: Record<Exclude<SensorName, 'switch'>, number> = {
  temperature: 0,
  humidity: 1,
  pressure: 2,
  current: 3,
};

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

  serialize(fleet: Fleet, d: Device, ts: number): Buffer {
    let writeReadings = this.writers.get(fleet.id);
    if (!writeReadings) {
      writeReadings = readingsWriter(fleet.sensors);
      this.writers.set(fleet.id, writeReadings);
    }
    const label = d.lastLabel;
    const anomaly =
      label === null
        ? 'null'
        : `{"id":"${label.id}","kind":"${label.kind}","sensor":"${label.sensor}"}`;
    const text =
      d.jsonHead +
      (d.seq - 1) +
      ',"ts":"' +
      new Date(ts).toISOString() +
      d.jsonPlace +
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
}

/** A function writing the `readings` members of one fleet's sensors, in a fixed order. */
function readingsWriter(sensors: readonly SensorName[]): (d: Device) => string {
  const parts = sensors.map((s) =>
    s === 'switch'
      ? (d: Device) => `"switch":${d.switchOn}`
      : (
          (i: number) => (d: Device) =>
            `"${s}":${round2(d.values[i])}`
        )(SENSOR_INDEX[s]),
  );
  return (d) => {
    let out = '';
    for (let i = 0; i < parts.length; i++) out += (i ? ',' : '') + parts[i](d);
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
