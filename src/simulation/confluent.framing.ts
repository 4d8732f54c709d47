import type { ValueFormat } from '../config/fleetsim.config.js';
import type { Device, Fleet } from '../model/fleet.js';
import type { ValueSlabs } from '../producer/outgoing.record.js';
import type { ReadingSerializer } from './reading.serializer.js';

/**
 * Confluent's wire format (docs/schema-registry.md): magic byte 0, the schema id as a 4-byte
 * big-endian integer, for Protobuf the indexes of the message in its file (fleetsim.v1.Reading
 * is the first message: the list [0], written as the single byte 0), then the value.
 */
export function confluentPrefix(schemaId: number, format: ValueFormat): Buffer {
  if (!Number.isInteger(schemaId) || schemaId < 0 || schemaId > 0xffff_ffff) {
    throw new RangeError(`a schema id is a 32-bit unsigned integer, got ${schemaId}`);
  }
  const prefix = Buffer.alloc(format === 'protobuf' ? 6 : 5);
  prefix[0] = 0;
  prefix.writeUInt32BE(schemaId, 1);
  // prefix[5] (protobuf) stays 0: message indexes [0].
  return prefix;
}

/**
 * Writes each value behind a fixed prefix (the Confluent one above), computed once: the cost
 * per value is one allocation and one copy of the plain value.
 */
export class FramedSerializer implements ReadingSerializer {
  readonly contentType: string;

  constructor(
    private readonly inner: ReadingSerializer,
    readonly prefix: Buffer,
  ) {
    this.contentType = inner.contentType;
  }

  serialize(fleet: Fleet, d: Device, ts: number): Buffer {
    const value = this.inner.serialize(fleet, d, ts);
    const prefix = this.prefix;
    const out = Buffer.allocUnsafe(prefix.length + value.length);
    prefix.copy(out, 0);
    value.copy(out, prefix.length);
    return out;
  }

  write(fleet: Fleet, d: Device, ts: number, out: ValueSlabs): void {
    const value = this.inner.serialize(fleet, d, ts);
    const prefix = this.prefix;
    out.reserve(prefix.length + value.length);
    prefix.copy(out.slab, out.start);
    value.copy(out.slab, out.start + prefix.length);
  }

  forget(fleetId: string): void {
    this.inner.forget(fleetId);
  }
}
