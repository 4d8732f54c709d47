import { type Device, type Fleet, VALUES } from '../model/fleet.js';
import { SENSOR_INDEX } from '../model/sensor.table.js';
import type { ValueSlabs } from '../producer/outgoing.record.js';
import { type ReadingSerializer, round2 } from './reading.serializer.js';
import type { SensorName } from '../model/sensors/sensor.model.js';

/**
 * Writes a device's latest reading as a `fleetsim.v1.Reading` message (proto/reading.proto),
 * encoded by hand: the message is small and fixed in shape, so computing its exact size and
 * writing varints, fixed64 doubles and length-delimited fields straight into one buffer is
 * much cheaper than a generic encoder. Fields are written in field-number order and scalar
 * fields holding their default value are left out, as protoc's encoders do; the optional
 * sensor fields are written whenever the fleet has the sensor, 0 and false included.
 *
 * The parts that never change for a device (ids, location) are encoded once and cached.
 */
export class ProtobufReadingSerializer implements ReadingSerializer {
  readonly contentType = 'application/x-protobuf; messageType=fleetsim.v1.Reading';
  private readonly layouts = new Map<string, ReadingsLayout>();
  private readonly parts = new WeakMap<Device, DeviceParts>();

  serialize(fleet: Fleet, d: Device, ts: number): Buffer {
    return this.encode(fleet, d, ts, undefined);
  }

  write(fleet: Fleet, d: Device, ts: number, out: ValueSlabs): void {
    this.encode(fleet, d, ts, out);
  }

  /** Encodes into `out`'s next value, or into a buffer of its own (returned). */
  private encode(fleet: Fleet, d: Device, ts: number, out: ValueSlabs | undefined): Buffer {
    let layout = this.layouts.get(fleet.id);
    if (!layout) {
      layout = readingsLayout(fleet.sensors);
      this.layouts.set(fleet.id, layout);
    }
    let parts = this.parts.get(d);
    if (!parts) {
      parts = deviceParts(d);
      this.parts.set(d, parts);
    }

    const seq = d.seq - 1;
    const seconds = Math.floor(ts / 1000);
    const nanos = (ts - seconds * 1000) * 1_000_000;
    const tsBody =
      (seconds !== 0 ? 1 + int64Size(seconds) : 0) + (nanos !== 0 ? 1 + varintSize(nanos) : 0);
    const label = d.lastLabel;
    let anomalyBody = 0;
    if (label !== null) {
      anomalyBody = stringFieldSize(label.id) + stringFieldSize(label.kind);
      anomalyBody += stringFieldSize(label.sensor);
    }
    const size =
      parts.head.length +
      (seq !== 0 ? 1 + varintSize(seq) : 0) +
      2 +
      tsBody +
      parts.location.length +
      2 +
      layout.size +
      (label !== null ? 1 + varintSize(anomalyBody) + anomalyBody : 0);

    let buf: Buffer;
    let start = 0;
    if (out) {
      out.reserve(size);
      buf = out.slab;
      start = out.start;
    } else buf = Buffer.allocUnsafe(size);
    let pos = start + parts.head.copy(buf, start);
    if (seq !== 0) {
      buf[pos++] = TAG_SEQ;
      pos = writeVarint(buf, pos, seq);
    }
    buf[pos++] = TAG_TS;
    buf[pos++] = tsBody;
    if (seconds !== 0) {
      buf[pos++] = TAG_SECONDS;
      pos = writeInt64(buf, pos, seconds);
    }
    if (nanos !== 0) {
      buf[pos++] = TAG_NANOS;
      pos = writeVarint(buf, pos, nanos);
    }
    pos += parts.location.copy(buf, pos);
    buf[pos++] = TAG_READINGS;
    buf[pos++] = layout.size;
    const state = d.state;
    const values = d.at + VALUES;
    for (const { tag, index } of layout.numeric) {
      buf[pos++] = tag;
      pos = buf.writeDoubleLE(round2(state[values + index]), pos);
    }
    if (layout.hasSwitch) {
      buf[pos++] = TAG_SWITCH;
      buf[pos++] = d.switchOn ? 1 : 0;
    }
    if (label !== null) {
      buf[pos++] = TAG_ANOMALY;
      pos = writeVarint(buf, pos, anomalyBody);
      pos = writeStringField(buf, pos, TAG_ANOMALY_ID, label.id);
      pos = writeStringField(buf, pos, TAG_ANOMALY_KIND, label.kind);
      pos = writeStringField(buf, pos, TAG_ANOMALY_SENSOR, label.sensor);
    }
    if (pos !== start + size) {
      throw new Error(`protobuf size mismatch: wrote ${pos - start} of ${size} bytes`);
    }
    return buf;
  }

  forget(fleetId: string): void {
    this.layouts.delete(fleetId);
  }
}

// Tags: field number << 3 | wire type (0 varint, 1 fixed64, 2 length-delimited).
const TAG_DEVICE_ID = (1 << 3) | 2;
const TAG_FLEET_ID = (2 << 3) | 2;
const TAG_SEQ = (3 << 3) | 0;
const TAG_TS = (4 << 3) | 2;
const TAG_LOCATION = (5 << 3) | 2;
const TAG_READINGS = (6 << 3) | 2;
const TAG_ANOMALY = (7 << 3) | 2;
const TAG_SECONDS = (1 << 3) | 0;
const TAG_NANOS = (2 << 3) | 0;
const TAG_BUILDING = (1 << 3) | 0;
const TAG_FLOOR = (2 << 3) | 0;
const TAG_ROOM = (3 << 3) | 0;
const TAG_SWITCH = (5 << 3) | 0;
const TAG_ANOMALY_ID = (1 << 3) | 2;
const TAG_ANOMALY_KIND = (2 << 3) | 2;
const TAG_ANOMALY_SENSOR = (3 << 3) | 2;
/** Readings field numbers of the numeric sensors. */
const NUMERIC_FIELD: Record<Exclude<SensorName, 'switch'>, number> = {
  temperature: 1,
  humidity: 2,
  pressure: 3,
  current: 4,
};

/** Which sensors a fleet's Readings message holds, and its (fixed) encoded size. */
interface ReadingsLayout {
  numeric: { tag: number; index: number }[];
  hasSwitch: boolean;
  size: number;
}

function readingsLayout(sensors: readonly SensorName[]): ReadingsLayout {
  const numeric = (['temperature', 'humidity', 'pressure', 'current'] as const)
    .filter((s) => sensors.includes(s))
    .map((s) => ({ tag: (NUMERIC_FIELD[s] << 3) | 1, index: SENSOR_INDEX[s] }));
  const hasSwitch = sensors.includes('switch');
  return { numeric, hasSwitch, size: numeric.length * 9 + (hasSwitch ? 2 : 0) };
}

/** A device's fields 1–2 (ids) and field 5 (location), encoded once. */
interface DeviceParts {
  head: Buffer;
  location: Buffer;
}

function deviceParts(d: Device): DeviceParts {
  const head = Buffer.allocUnsafe(stringFieldSize(d.id) + stringFieldSize(d.fleetId));
  writeStringField(head, writeStringField(head, 0, TAG_DEVICE_ID, d.id), TAG_FLEET_ID, d.fleetId);
  const { building, floor, room } = d.location;
  const body =
    (building ? 1 + varintSize(building) : 0) +
    (floor ? 1 + varintSize(floor) : 0) +
    (room ? 1 + varintSize(room) : 0);
  const location = Buffer.allocUnsafe(1 + varintSize(body) + body);
  let pos = 0;
  location[pos++] = TAG_LOCATION;
  pos = writeVarint(location, pos, body);
  for (const [tag, value] of [
    [TAG_BUILDING, building],
    [TAG_FLOOR, floor],
    [TAG_ROOM, room],
  ] as const) {
    if (value) {
      location[pos++] = tag;
      pos = writeVarint(location, pos, value);
    }
  }
  return { head, location };
}

/** Bytes of a varint holding a non-negative integer up to 2^53. */
export function varintSize(n: number): number {
  let size = 1;
  while (n >= 128) {
    n = Math.floor(n / 128);
    size++;
  }
  return size;
}

/** Writes a non-negative integer up to 2^53 as a varint; returns the next position. */
export function writeVarint(buf: Buffer, pos: number, n: number): number {
  while (n >= 128) {
    buf[pos++] = (n % 128) | 128;
    n = Math.floor(n / 128);
  }
  buf[pos++] = n;
  return pos;
}

/** Bytes of an int64 varint: negative numbers take ten (two's complement over 64 bits). */
function int64Size(n: number): number {
  return n < 0 ? 10 : varintSize(n);
}

function writeInt64(buf: Buffer, pos: number, n: number): number {
  if (n >= 0) return writeVarint(buf, pos, n);
  let u = BigInt.asUintN(64, BigInt(n));
  while (u >= 128n) {
    buf[pos++] = Number(u & 127n) | 128;
    u >>= 7n;
  }
  buf[pos++] = Number(u);
  return pos;
}

/** Bytes of a string field (tag, length, UTF-8), or 0 for the empty string (the default). */
function stringFieldSize(s: string): number {
  if (s.length === 0) return 0;
  const bytes = Buffer.byteLength(s, 'utf8');
  return 1 + varintSize(bytes) + bytes;
}

function writeStringField(buf: Buffer, pos: number, tag: number, s: string): number {
  if (s.length === 0) return pos;
  buf[pos++] = tag;
  const bytes = Buffer.byteLength(s, 'utf8');
  pos = writeVarint(buf, pos, bytes);
  return pos + buf.write(s, pos, 'utf8');
}
