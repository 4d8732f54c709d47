import type { CompressionName } from '../config/fleetsim.config.js';
import type { KafkaSecurity } from '../kafka/kafka-security.js';
import type { OutgoingRecord } from './outgoing.record.js';

/**
 * What a send can fail with, whichever Kafka client sent: a plain Error that says whether
 * another try may succeed and the Kafka error's name (NOT_LEADER_OR_FOLLOWER,
 * MESSAGE_TOO_LARGE, …; NETWORK_EXCEPTION when the broker could not be reached,
 * REQUEST_TIMED_OUT when it did not answer in time).
 */
export interface SendError extends Error {
  retriable: boolean;
  type: string;
}

export function sendError(
  message: string,
  type: string,
  retriable: boolean,
  cause?: unknown,
): SendError {
  return Object.assign(new Error(message, cause === undefined ? {} : { cause }), {
    retriable,
    type,
  });
}

/** A partition whose records were not written, and why. */
export interface PartitionFailure {
  partition: number;
  error: SendError;
}

/**
 * How one send went, partition by partition. Every partition of the request that is not in
 * `failed` was acknowledged (with acks=0: written to the socket). A partition in `failed` had
 * none of its records written by this request, as far as the client knows: it is retried on
 * its own when its error is retriable (the other partitions are not sent again), counted
 * failed otherwise.
 */
export interface SendResult {
  failed: PartitionFailure[];
}

export const ALL_SENT: SendResult = Object.freeze({ failed: [] }) as SendResult;

/**
 * One Kafka client, fixed settings. `send` resolves with per-partition outcomes; it rejects
 * (with a SendError) only when nothing of the request can have been written, e.g. when the
 * client is not connected.
 */
export interface BatchSender {
  readonly topic: string;
  /** The topic's partition count as the broker last reported it. */
  readonly partitionCount: number;
  readonly connected: boolean;
  /** Connects, creates the topic if it is missing and reads its partition count. */
  connect(): Promise<void>;
  /** The partition for a key hash under the topic's current partition count. */
  partition(hash: number): number;
  /** Sends records to the partitions they carry (records of one partition in order). */
  send(records: OutgoingRecord[]): Promise<SendResult>;
  /** True when the cluster answers a metadata request now. */
  ping(): Promise<boolean>;
  disconnect(): Promise<void>;
}

/** The settings every engine is built with. */
export interface SenderOptions {
  brokers: string[];
  clientId: string;
  topic: string;
  topicPartitions: number;
  topicReplicationFactor: number;
  requiredAcks: -1 | 0 | 1;
  compression: CompressionName;
  idempotent: boolean;
  maxInFlightRequests: number;
  /** How often the topic's partition count is re-read, in ms. */
  metadataRefreshMs?: number;
  /** TLS and SASL (kafka.tls, kafka.sasl); none: plaintext without authentication. */
  security?: KafkaSecurity;
}

/** Groups records by partition, each partition's records in their order. */
export function byPartition(records: OutgoingRecord[]): Map<number, OutgoingRecord[]> {
  const groups = new Map<number, OutgoingRecord[]>();
  for (let i = 0; i < records.length; i++) {
    const r = records[i];
    const list = groups.get(r.partition);
    if (list) list.push(r);
    else groups.set(r.partition, [r]);
  }
  return groups;
}
