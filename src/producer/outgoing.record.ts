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
  /** Serialized reading. */
  value: Buffer;
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

/** Bytes a record puts on the wire (key, value and header bytes): what batch sizes count. */
export function recordBytes(record: OutgoingRecord): number {
  return record.key.length + record.value.length + (record.headers?.bytes ?? 0);
}

/**
 * Memory a held record costs beyond its `recordBytes`: the OutgoingRecord object, the value's
 * Buffer view, the queue's slot (its ring grows by doubling) and the batch arrays it passes
 * through. Measured on Node 24 (x64) by holding 1,000,000 records built as the pipeline builds
 * them (JSON values of 240 bytes in Node's shared buffer pool): heap and external memory grew
 * by 217 bytes a record beyond the value bytes; rounded up. `record.overhead.spec.ts` measures
 * it again and fails if a record ever costs more. The producer counts it against
 * `bufferMemory` for every record queued, held for a topic, parked for a retry or in flight.
 */
export const RECORD_OVERHEAD_BYTES = 256;
