/**
 * Kafka record headers shared by many records: built once (per fleet, value format and
 * anomaly kind) and never changed afterwards, so a record carries a reference, not a copy.
 * A sender passes `entries` to its client as they are (header name → value bytes; the order
 * of the names is irrelevant) and must not mutate them.
 */
export interface RecordHeaders {
  readonly entries: Readonly<Record<string, Buffer>>;
  /** Bytes of the names and values, counted in the producer's buffer. */
  readonly bytes: number;
}

/** Shared headers made of these name/value pairs (values UTF-8). */
export function recordHeaders(pairs: Record<string, string>): RecordHeaders {
  const entries: Record<string, Buffer> = {};
  let bytes = 0;
  for (const [name, value] of Object.entries(pairs)) {
    entries[name] = Buffer.from(value, 'utf8');
    bytes += Buffer.byteLength(name) + entries[name].length;
  }
  return Object.freeze({ entries: Object.freeze(entries), bytes });
}

/**
 * Who wants to know what became of a record (a backfill, for its progress and offsets); one
 * object shared by many records. The batching producer calls `delivered` or `failed` once per
 * record that carries it, as its books count the record; a sender that learns offsets calls
 * `offset` for each acknowledged record that carries it (before `delivered`).
 */
export interface RecordReceipt {
  delivered(): void;
  failed(): void;
  offset?(topic: string, partition: number, offset: number): void;
}

/** A serialized reading on its way to Kafka. */
export interface OutgoingRecord {
  /** Kafka key: the device id's UTF-8 bytes, built once per device. */
  key: Buffer;
  /**
   * The buffer the serialized reading is in: its bytes are `slab[valueStart, valueEnd)`. The
   * pipeline writes values one after the other into slabs it shares between records (see
   * ValueSlabs), so a record costs no Buffer object of its own; a record made elsewhere may
   * hold a buffer of its own (`ownValue`). Read it with `recordValue` off the hot path.
   */
  slab: Buffer;
  valueStart: number;
  valueEnd: number;
  /** FNV-1a hash of the key, computed once per device; partition = hash mod partitions. */
  hash: number;
  /**
   * Topic, when not the configured one (`kafka.topic`): a fleet's own topic (topic template)
   * or the label topic. Created on demand with the configured partitions.
   */
  topic?: string;
  /** Partition, set by the producer from the hash when the record is queued. */
  partition: number;
  /** The producer's queue for (topic, partition); set by the producer. */
  lane?: number;
  /** When the reading was scheduled (event time, ms since the epoch). */
  scheduledAt: number;
  /** Headers, shared between records (see RecordHeaders); none when absent. */
  headers?: RecordHeaders;
  /** Told the record's offset once Kafka acknowledged it (shared between records). */
  receipt?: RecordReceipt;
}

/** The value fields of a record whose value is all of `value`. */
export function ownValue(value: Buffer): Pick<OutgoingRecord, 'slab' | 'valueStart' | 'valueEnd'> {
  return { slab: value, valueStart: 0, valueEnd: value.length };
}

/** The record's value as a Buffer (a view of its slab; allocates one: not for the hot path). */
export function recordValue(record: OutgoingRecord): Buffer {
  return record.slab.subarray(record.valueStart, record.valueEnd);
}

/** Bytes a record puts on the wire (key, value and header bytes): what batch sizes count. */
export function recordBytes(record: OutgoingRecord): number {
  return record.key.length + record.valueEnd - record.valueStart + (record.headers?.bytes ?? 0);
}

/** Size of the slabs the pipeline writes values into (ValueSlabs). */
export const VALUE_SLAB_BYTES = 64 * 1024;

/**
 * Where the pipeline writes message values: one after the other in slabs of VALUE_SLAB_BYTES,
 * each shared by the records whose values it holds and freed by the collector with the last
 * of them. A value of its own Buffer (Node's pool, as Buffer.allocUnsafe makes) costs a
 * typed-array object per message, ~100 bytes of heap that live as long as the record: at
 * 100,000 messages a second they were a third of what the young generation promoted, and the
 * full collections that follow. After `reserve(n)`, the value goes at
 * `slab[start, start + n)`; `put` copies one there.
 */
export class ValueSlabs {
  slab = Buffer.allocUnsafeSlow(VALUE_SLAB_BYTES);
  /** Where the last value reserved starts and ends in `slab`. */
  start = 0;
  end = 0;

  /** Room for a value of `n` bytes (a fresh slab when this one is short): sets start, end. */
  reserve(n: number): void {
    let at = this.end;
    if (at + n > this.slab.length) {
      // A value larger than a slab gets a buffer of its own.
      this.slab = Buffer.allocUnsafeSlow(Math.max(VALUE_SLAB_BYTES, n));
      at = 0;
    }
    this.start = at;
    this.end = at + n;
  }

  /** Copies `src[from, to)` in as the next value. */
  put(src: Buffer, from: number, to: number): void {
    this.reserve(to - from);
    src.copy(this.slab, this.start, from, to);
  }
}

/**
 * Memory a held record costs beyond its `recordBytes`: the OutgoingRecord object (with its
 * boxed `scheduledAt`), the queue's slot (its ring grows by doubling) and the batch arrays it
 * passes through. Measured on Node 24 (x64) by holding 1,000,000 records built as the pipeline
 * builds them (240-byte values in shared ValueSlabs): heap and external memory grew by 137
 * bytes a record beyond the value bytes (249 when each value was a Buffer of its own in Node's
 * pool, as before ValueSlabs; 217 in an earlier measurement). Kept at 256, which leaves room
 * for what a record picks up on its way (a retry's arrays, a stalled lane's copy).
 * `test/unit/producer/buffer.accounting.spec.ts` measures it again and fails if a record ever
 * costs more. The producer counts it against `bufferMemory` for every record queued, held for
 * a topic, parked for a retry or in flight.
 */
export const RECORD_OVERHEAD_BYTES = 256;
