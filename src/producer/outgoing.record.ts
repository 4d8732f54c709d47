/** A serialized reading on its way to Kafka. */
export interface OutgoingRecord {
  /** Kafka key: the device id's UTF-8 bytes, built once per device. */
  key: Buffer;
  /** Serialized reading. */
  value: Buffer;
  /** FNV-1a hash of the key, computed once per device; partition = hash mod partitions. */
  hash: number;
  /** Partition, set by the producer from the hash when the record is queued. */
  partition: number;
  /** When the reading was scheduled (event time, ms since the epoch). */
  scheduledAt: number;
}

/** Bytes a record holds in the producer's buffer. */
export function recordBytes(record: OutgoingRecord): number {
  return record.key.length + record.value.length;
}
