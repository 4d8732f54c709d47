import type { CompressionName } from '../config/fleetsim.config.js';
import type { KafkaSecurity } from '../kafka/kafka-security.js';
import { partitionFor } from '../model/fnv1a.js';
import type { OutgoingRecord } from './outgoing.record.js';

/**
 * What a send can fail with, whichever Kafka client sent: a plain Error that says whether
 * another try may succeed and the Kafka error's name (NOT_LEADER_OR_FOLLOWER,
 * MESSAGE_TOO_LARGE, …; NETWORK_EXCEPTION when the broker could not be reached,
 * REQUEST_TIMED_OUT when it did not answer in time; "" when none is known). Each sender
 * translates its client's errors into this, so the batching knows no Kafka client.
 */
export interface SendError extends Error {
  retriable: boolean;
  type: string;
  /**
   * True when the records may have been written although the send failed: the request went
   * out and no answer came (a timeout, a connection lost mid-request). Absent or false: the
   * broker refused them, or they never left the client. A re-send of possibly written records
   * under another producer id (or without idempotence) may duplicate them.
   */
  ambiguous?: boolean;
}

/** A SendError with this message; `cause` keeps the client's own error. */
export function sendError(
  message: string,
  retriable: boolean,
  type = '',
  cause?: unknown,
  ambiguous = false,
): SendError {
  return Object.assign(new Error(message, cause === undefined ? undefined : { cause }), {
    retriable,
    type,
    ambiguous,
  });
}

/**
 * A lane (one topic's partition) whose records were not written, and why. `topic` is the
 * topic's name as sent (the configured topic for records that name none).
 */
export interface LaneFailure {
  topic: string;
  partition: number;
  error: SendError;
}

/**
 * How one send went, lane by lane. Every (topic, partition) of the request that is not in
 * `failed` was acknowledged (with acks=0: written to the socket). A lane in `failed` had
 * none of its records written by this request, as far as the client knows: it is retried on
 * its own when its error is retriable (the other lanes are not sent again), counted failed
 * otherwise.
 */
export interface SendResult {
  failed: LaneFailure[];
}

export const ALL_SENT: SendResult = Object.freeze({ failed: [] }) as SendResult;

/**
 * One Kafka client, fixed settings. Records name their topic (`record.topic`, undefined: the
 * configured one); a batch may hold several topics. `send` resolves with per-lane outcomes;
 * it rejects (with a SendError) only when nothing of the request can have been written, e.g.
 * when the client is not connected.
 */
export interface BatchSender {
  /** The configured topic (kafka.topic; may be a `{fleetId}` template naming none). */
  readonly topic: string;
  /**
   * The configured topic's partition count as the broker last reported it; 0 until the broker
   * reported it (records are not routed by the configured kafka.topicPartitions, which an
   * existing topic may not have).
   */
  readonly partitionCount: number;
  readonly connected: boolean;
  /** The acks requests are sent with (-1 with idempotence); 0: nothing is acknowledged. */
  readonly acks: -1 | 0 | 1;
  /**
   * Who the broker de-duplicates this sender's retries under: the idempotent producer's id and
   * epoch once known; undefined without idempotence (no retry is de-duplicated).
   */
  producerIdentity(): string | undefined;
  /**
   * Takes over `previous`'s idempotent producer state (producer id, epoch, sequence numbers) at a
   * client swap, so that batches retried on this sender are de-duplicated against what the
   * previous one may have written. Returns false when it cannot (another engine, idempotence
   * off on either side, another topic): the retries then start afresh under a new producer id.
   */
  adoptProducerState(previous: BatchSender): boolean;
  /** Connects, creates the configured topic if it is missing and reads its partition count. */
  connect(): Promise<void>;
  /**
   * The partition for a key hash under the current partition count of `topic` (default: the
   * configured topic), or -1 while that topic's partition count is not known (for the
   * configured topic: until connected): the producer then holds its records and calls
   * `prepareTopic`.
   */
  partition(hash: number, topic?: string): number;
  /**
   * Creates `topic` if it is missing (with the configured partitions and replication) and
   * learns its partition count, so `partition(…, topic)` answers. Rejects with a SendError
   * (not retriable for an invalid or refused topic).
   */
  prepareTopic(topic: string): Promise<void>;
  /**
   * Sends records to the topics and partitions they carry, with their headers (records of one
   * lane in order). A record with a receipt is told its offset when the client learns it.
   */
  send(records: OutgoingRecord[]): Promise<SendResult>;
  /** Re-reads the partition count of every topic the sender knows; returns the configured one's. */
  refreshPartitions(): Promise<number>;
  /** True when the cluster answers a metadata request now. */
  ping(): Promise<boolean>;
  disconnect(): Promise<void>;
}

/** Whether kafka.topic is a template naming one topic per fleet (`{fleetId}`). */
export function isTopicTemplate(topic: string): boolean {
  return topic.includes('{fleetId}');
}

/**
 * The partition counts a sender routes by: the configured topic's as the broker reported it
 * (0 until then) and those of the other topics records named (fleet topics, the label topic),
 * with one look-up at a time per topic however many records ask.
 */
export class TopicPartitions {
  /** The configured topic's count; 0 until the broker reported it. */
  own = 0;
  private readonly others = new Map<string, number>();
  private readonly preparing = new Map<string, Promise<void>>();

  constructor(private readonly topic: string) {}

  /** See BatchSender.partition. */
  partition(hash: number, topic?: string): number {
    if (topic === undefined || topic === this.topic) {
      return this.own > 0 ? partitionFor(hash, this.own) : -1;
    }
    const count = this.others.get(topic);
    return count === undefined ? -1 : partitionFor(hash, count);
  }

  /** The count this sender routes `topic` by (0 or undefined: not known yet). */
  get(topic: string): number | undefined {
    return topic === this.topic ? this.own : this.others.get(topic);
  }

  /** Takes a count the broker reported for the configured topic or a topic already asked for. */
  update(topic: string, count: number): void {
    if (count <= 0) return;
    if (topic === this.topic) this.own = count;
    else if (this.others.has(topic)) this.others.set(topic, count);
  }

  /** The topics whose counts are known or asked for (the configured one unless a template). */
  topics(): string[] {
    const own = isTopicTemplate(this.topic) ? [] : [this.topic];
    return [...own, ...this.others.keys()];
  }

  /**
   * Learns another topic's count by `lookUp` (which creates the topic when missing), once: a
   * look-up under way is shared, a known topic resolves at once.
   */
  prepare(topic: string, lookUp: () => Promise<number>): Promise<void> {
    if (topic === this.topic || this.others.has(topic)) return Promise.resolve();
    let p = this.preparing.get(topic);
    if (!p) {
      p = lookUp()
        .then((count) => {
          if (count > 0) this.others.set(topic, count);
        })
        .finally(() => this.preparing.delete(topic));
      this.preparing.set(topic, p);
    }
    return p;
  }
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

/**
 * Groups records by lane: topic (`record.topic`, else `topic`), then partition, each lane's
 * records in their order.
 */
export function byLane(
  records: OutgoingRecord[],
  topic: string,
): Map<string, Map<number, OutgoingRecord[]>> {
  const topics = new Map<string, Map<number, OutgoingRecord[]>>();
  // A batch holds each lane's records in a run: look the lane up once per run.
  let runTopic: string | undefined;
  let runPartition = -1;
  let run: OutgoingRecord[] = [];
  for (let i = 0; i < records.length; i++) {
    const r = records[i];
    const t = r.topic ?? topic;
    if (t === runTopic && r.partition === runPartition) {
      run.push(r);
      continue;
    }
    let groups = topics.get(t);
    if (!groups) {
      groups = new Map();
      topics.set(t, groups);
    }
    const list = groups.get(r.partition);
    if (list) list.push(r);
    else groups.set(r.partition, [r]);
    runTopic = t;
    runPartition = r.partition;
    run = groups.get(r.partition)!;
  }
  return topics;
}

/**
 * Tells the receipts of one lane's records their offsets: the records of one request are
 * stored in request order from the lane's base offset.
 */
export function tellLaneOffsets(
  topic: string,
  partition: number,
  records: OutgoingRecord[],
  baseOffset: number,
): void {
  if (!(baseOffset >= 0)) return;
  for (let i = 0; i < records.length; i++) {
    records[i].receipt?.offset?.(topic, partition, baseOffset + i);
  }
}
