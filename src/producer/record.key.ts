import { fnv1a32Bytes } from '../model/fnv1a.js';

/** A record's Kafka key and its FNV-1a hash (partition = hash mod the partition count). */
export interface RecordKey {
  /** The device id's UTF-8 bytes. */
  key: Buffer;
  hash: number;
}

/** The Kafka key of the device with this id. */
export function recordKey(deviceId: string): RecordKey {
  const key = Buffer.from(deviceId, 'utf8');
  return { key, hash: fnv1a32Bytes(key) };
}
