import { isIP, Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import kafkajs, {
  type Admin,
  type ISocketFactory,
  type Kafka,
  type Producer,
  type logCreator,
} from 'kafkajs';
import type { CompressionName } from '../config/fleetsim.config.js';
import { kafkajsSecurityOptions } from '../kafka/kafka-security.js';
import '../kafka/kafkajs.patch.js';
import { registerCompressionCodecs } from './compression.codecs.js';
import { type OutgoingRecord, recordValue } from './outgoing.record.js';
import {
  ALL_SENT,
  type BatchSender,
  byLane,
  isTopicTemplate,
  type LaneFailure,
  type SendError,
  sendError,
  type SenderOptions,
  type SendResult,
  tellLaneOffsets,
  TopicPartitions,
} from './sender.js';

export { isTopicTemplate };

const { CompressionCodecs, CompressionTypes } = kafkajs;

registerCompressionCodecs();

export interface KafkaSenderOptions extends SenderOptions {
  logCreator?: logCreator;
  /**
   * Called when this sender's kafkajs client cannot go on as it is (its metadata lacks
   * partitions of the topic, or the idempotent producer's state was lost): the owner replaces
   * the whole sender through BatchingProducer.setSender, the one client-swap mechanism.
   */
  onStale?: (reason: string) => void;
}

const COMPRESSION_TYPES: Record<CompressionName, number> = {
  none: CompressionTypes.None,
  gzip: CompressionTypes.GZIP,
  snappy: CompressionTypes.Snappy,
  lz4: CompressionTypes.LZ4,
  zstd: CompressionTypes.ZSTD,
};

/** The kafkajs codec for a compression, or an error saying it is not available. */
export function compressionType(name: CompressionName): number {
  const type = COMPRESSION_TYPES[name];
  if (type === CompressionTypes.None) return type;
  // kafkajs's own table has placeholders for snappy, lz4 and zstd that throw when looked up.
  const lookup = (CompressionCodecs as Record<number, (() => unknown) | undefined>)[type];
  let codec: unknown;
  try {
    codec = lookup?.();
  } catch {
    codec = undefined;
  }
  if (!codec) {
    throw new Error(`compression "${name}" has no codec registered in this build of fleetsim`);
  }
  return type;
}

/** Errors after which an idempotent producer cannot go on with its current producer id. */
const PRODUCER_STATE_ERRORS = new Set([
  'OUT_OF_ORDER_SEQUENCE_NUMBER',
  'UNKNOWN_PRODUCER_ID',
  'INVALID_PRODUCER_EPOCH',
]);

interface KafkajsError {
  retriable?: boolean;
  name?: string;
  type?: string;
  originalError?: unknown;
  cause?: unknown;
}

/** The Kafka error type of a kafkajs error, looking through its wrappers. */
export function errorType(err: unknown): string {
  let e = err as KafkajsError | undefined;
  for (let depth = 0; e && depth < 10; depth++) {
    if (e.type) return e.type;
    e = (e.originalError ?? e.cause) as KafkajsError | undefined;
  }
  return '';
}

const TRANSIENT =
  /Connection|Network|Timeout|BrokerNotFound|LeaderNotAvailable|NotLeader|MetadataNotLoaded/;

/**
 * Whether a kafkajs error is worth another try. kafkajs wraps the cause when its own retries
 * run out (KafkaJSNumberOfRetriesExceeded) or when it gives up (KafkaJSNonRetriableError,
 * flagged not retriable even around a refused connection), so the whole chain is read: a
 * broker that cannot be reached is always worth another try.
 */
export function isRetriable(err: unknown): boolean {
  let e = err as KafkajsError | undefined;
  let innermost = e;
  for (let depth = 0; e && depth < 10; depth++) {
    if (TRANSIENT.test(e.name ?? '')) return true;
    innermost = e;
    e = (e.originalError ?? e.cause) as KafkajsError | undefined;
  }
  if (innermost !== err && typeof innermost?.retriable === 'boolean') return innermost.retriable;
  const outer = err as KafkajsError | undefined;
  if (outer?.name === 'KafkaJSNumberOfRetriesExceeded') return true;
  return typeof outer?.retriable === 'boolean' ? outer.retriable : false;
}

/** A connection that could not be made: the request never left fleetsim. */
const NOT_CONNECTED = /ECONNREFUSED|ENOTFOUND|EHOSTUNREACH|ENETUNREACH|EAI_AGAIN|not connected/i;

/**
 * Whether a failed kafkajs send may have been written: the broker did not answer (a timeout, a
 * connection lost mid-request), unless the connection was never made. A broker's error answer
 * (a Kafka error type other than a timeout) means it was not written.
 */
export function mayHaveBeenWritten(err: unknown, error: SendError): boolean {
  if (error.type !== 'REQUEST_TIMED_OUT' && error.type !== 'NETWORK_EXCEPTION') return false;
  let e = err as (KafkajsError & { message?: string }) | undefined;
  for (let depth = 0; e && depth < 10; depth++) {
    if (NOT_CONNECTED.test(e.message ?? '')) return false;
    e = (e.originalError ?? e.cause) as KafkajsError | undefined;
  }
  return true;
}

/** Senders made in this process, to name each one's idempotent producer. */
let senders = 0;

/** Error names kafkajs still spells as before Kafka 2.4 renamed them. */
const RENAMED: Record<string, string> = { NOT_LEADER_FOR_PARTITION: 'NOT_LEADER_OR_FOLLOWER' };

/** A kafkajs error as fleetsim's SendError ({ retriable, type }), in Kafka's current names. */
export function kafkajsSendError(err: unknown): SendError {
  let type = errorType(err);
  type = RENAMED[type] ?? type;
  if (!type) {
    const names: string[] = [];
    let e = err as KafkajsError | undefined;
    for (let depth = 0; e && depth < 10; depth++) {
      names.push(e.name ?? '');
      e = (e.originalError ?? e.cause) as KafkajsError | undefined;
    }
    type = names.some((n) => /Timeout/.test(n))
      ? 'REQUEST_TIMED_OUT'
      : names.some((n) => TRANSIENT.test(n))
        ? 'NETWORK_EXCEPTION'
        : 'UNKNOWN_SERVER_ERROR';
  }
  return sendError((err as Error)?.message ?? String(err), isRetriable(err), type, err);
}

/**
 * kafkajs never sets TCP_NODELAY; small produce requests then wait on Nagle's algorithm. With
 * `ssl` (kafka.tls) the socket is a TLS one, as kafkajs's own factory makes it.
 */
const noDelaySocketFactory: ISocketFactory = ({ host, port, ssl, onConnect }) => {
  if (ssl) {
    const socket = tlsConnect(
      { host, port, ...(isIP(host) ? {} : { servername: host }), ...ssl },
      onConnect,
    );
    socket.setNoDelay(true);
    socket.setKeepAlive(true, 60_000);
    return socket;
  }
  const socket = new Socket();
  socket.setNoDelay(true);
  socket.setKeepAlive(true, 60_000);
  socket.connect({ host, port }, onConnect);
  return socket;
};

/**
 * Sends batches with kafkajs: explicit partition per message (FNV-1a of the key modulo the
 * partition count of the record's topic, re-read every `metadataRefreshMs`), pre-serialized
 * values, the records' shared headers, TCP_NODELAY sockets. kafkajs fails a whole produce
 * request when one of its partitions fails, and cannot say which partitions were written, so
 * each lane (topic, partition) goes in a request of its own (sent concurrently; kafkajs puts
 * them on the leaders' connections).
 *
 * kafkajs's producer keeps the metadata it loaded on its first send and skips partitions it
 * does not know; when the partition count changes, or the idempotent producer's state is lost,
 * this sender keeps routing by what its client knows and asks its owner (`onStale`) for a
 * fresh sender, which takes over the queue when the sends in flight are answered.
 */
export class KafkaSender implements BatchSender {
  readonly kafka: Kafka;
  private producer?: Producer;
  private admin?: Admin;
  private refreshTimer?: NodeJS.Timeout;
  private readonly compression: number;
  readonly acks: -1 | 0 | 1;
  /** This client's idempotent producer, as producerIdentity names it (one per sender). */
  private readonly identity = `kafkajs-${++senders}`;
  /** When `onStale` was last called (0: never); asked again after 5 s if still in use. */
  private staleAt = 0;
  /** What records are routed by (see TopicPartitions). */
  private readonly counts: TopicPartitions;
  connected = false;

  constructor(private readonly options: KafkaSenderOptions) {
    this.counts = new TopicPartitions(options.topic);
    this.compression = compressionType(options.compression);
    this.acks = options.idempotent ? -1 : options.requiredAcks;
    this.kafka = new kafkajs.Kafka({
      clientId: options.clientId,
      brokers: options.brokers,
      socketFactory: noDelaySocketFactory,
      connectionTimeout: 3000,
      requestTimeout: 30_000,
      retry: { retries: 2, initialRetryTime: 100, maxRetryTime: 2000 },
      logCreator: options.logCreator,
      ...kafkajsSecurityOptions(options.security),
    });
  }

  get topic(): string {
    return this.options.topic;
  }

  /** Connects, creates the topic if it is missing and reads its partition count. */
  async connect(): Promise<void> {
    this.admin = this.kafka.admin();
    await this.admin.connect();
    await this.ensureTopic();
    this.producer = this.kafka.producer({
      idempotent: this.options.idempotent,
      maxInFlightRequests: this.options.idempotent ? 1 : this.options.maxInFlightRequests,
      allowAutoTopicCreation: false,
      // fleetsim retries on its own, counting every retry; the idempotent producer insists on one.
      retry: { retries: this.options.idempotent ? 1 : 0, initialRetryTime: 100 },
    });
    await this.producer.connect();
    this.connected = true;
    const every = this.options.metadataRefreshMs ?? 10_000;
    this.refreshTimer = setInterval(() => void this.refreshPartitions().catch(() => {}), every);
    this.refreshTimer.unref();
  }

  /**
   * Creates the configured topic if it is missing and reads its partition count. A topic
   * template (`{fleetId}` in kafka.topic) names no topic of its own: nothing to create.
   */
  async ensureTopic(): Promise<void> {
    if (isTopicTemplate(this.options.topic)) return;
    await this.createTopic(this.options.topic);
    const meta = await this.admin!.fetchTopicMetadata({ topics: [this.options.topic] });
    this.counts.update(this.options.topic, meta.topics[0]?.partitions.length ?? 0);
  }

  get partitionCount(): number {
    return this.counts.own;
  }

  private async createTopic(topic: string): Promise<void> {
    const admin = this.admin!;
    const topics = await admin.listTopics();
    if (topics.includes(topic)) return;
    await admin
      .createTopics({
        waitForLeaders: true,
        topics: [
          {
            topic,
            numPartitions: this.options.topicPartitions,
            replicationFactor: this.options.topicReplicationFactor,
          },
        ],
      })
      .catch((err: Error & { type?: string }) => {
        if (err.type !== 'TOPIC_ALREADY_EXISTS') throw err;
      });
  }

  /** Creates `topic` if it is missing (configured partitions) and learns its partition count. */
  prepareTopic(topic: string): Promise<void> {
    return this.counts.prepare(topic, async () => {
      if (!this.admin || !this.connected) {
        throw sendError('producer is not connected', true, 'NETWORK_EXCEPTION');
      }
      try {
        await this.createTopic(topic);
        const meta = await this.admin.fetchTopicMetadata({ topics: [topic] });
        return meta.topics[0]?.partitions.length ?? 0;
      } catch (err) {
        const type = errorType(err);
        // An invalid name or a refused creation will not get better by trying again.
        const fatal = type === 'INVALID_TOPIC_EXCEPTION' || type === 'TOPIC_AUTHORIZATION_FAILED';
        throw sendError(
          `topic ${topic}: ${(err as Error).message}`,
          !fatal && isRetriable(err),
          type,
          err,
        );
      }
    });
  }

  /**
   * Re-reads the partition count of every topic this sender knows; returns the configured
   * topic's. Once connected, a change is not adopted here (the kafkajs producer would skip the
   * partitions it does not know): a fresh sender, which loads the new counts, is asked for.
   */
  async refreshPartitions(): Promise<number> {
    const topics = this.counts.topics();
    if (topics.length === 0) return this.partitionCount;
    const meta = await this.admin!.fetchTopicMetadata({ topics });
    for (const t of meta.topics) {
      const count = t.partitions.length;
      if (count === 0) continue;
      const known = this.counts.get(t.name);
      if (known !== undefined && count !== known) {
        this.markStale(`topic ${t.name} has ${count} partitions, this client knows ${known}`);
      }
    }
    return this.partitionCount;
  }

  private markStale(reason: string): void {
    if (!this.connected || Date.now() - this.staleAt < 5000) return;
    this.staleAt = Date.now();
    this.options.onStale?.(reason);
  }

  /** True when the cluster answers a metadata request. */
  async ping(): Promise<boolean> {
    if (!this.admin) return false;
    try {
      await this.admin.describeCluster();
      return true;
    } catch {
      return false;
    }
  }

  partition(hash: number, topic?: string): number {
    return this.counts.partition(hash, topic);
  }

  /**
   * kafkajs keeps its idempotent producer id inside the client and offers no way to hand it to
   * another client: each sender is its own identity (a retry on the same sender carries the
   * same sequence numbers and is de-duplicated; on a new sender it is not).
   */
  producerIdentity(): string | undefined {
    return this.options.idempotent ? this.identity : undefined;
  }

  /** kafkajs cannot take over another client's producer id: never. */
  adoptProducerState(): boolean {
    return false;
  }

  async send(records: OutgoingRecord[]): Promise<SendResult> {
    const producer = this.producer;
    if (!producer) throw sendError('producer is not connected', true, 'NETWORK_EXCEPTION');
    const sends: Promise<LaneFailure | undefined>[] = [];
    for (const [topic, groups] of byLane(records, this.options.topic)) {
      for (const [partition, list] of groups) {
        sends.push(this.sendLane(producer, topic, partition, list));
      }
    }
    const failed: LaneFailure[] = [];
    for (const f of await Promise.all(sends)) if (f) failed.push(f);
    return failed.length ? { failed } : ALL_SENT;
  }

  /** Sends one lane's records in one request; resolves with its failure, if any. */
  private async sendLane(
    producer: Producer,
    topic: string,
    partition: number,
    records: OutgoingRecord[],
  ): Promise<LaneFailure | undefined> {
    const messages = new Array(records.length);
    let receipts = false;
    for (let i = 0; i < records.length; i++) {
      const r = records[i];
      if (r.receipt) receipts = true;
      // Shared, frozen header objects: kafkajs only reads them.
      messages[i] = {
        key: r.key,
        value: recordValue(r),
        partition,
        headers: r.headers?.entries as Record<string, Buffer> | undefined,
      };
    }
    let answered: Array<{ partition: number; errorCode: number; baseOffset?: string }>;
    try {
      answered = await producer.sendBatch({
        acks: this.acks,
        compression: this.compression,
        topicMessages: [{ topic, messages }],
      });
    } catch (err) {
      const error = kafkajsSendError(err);
      error.ambiguous = mayHaveBeenWritten(err, error);
      if (PRODUCER_STATE_ERRORS.has(error.type)) {
        // The idempotent producer's numbering no longer matches the broker's (e.g. state lost
        // in a broker failure): a fresh client gets a new producer id; the records are retried.
        this.markStale(`producer state lost (${error.type})`);
        error.retriable = true;
      } else if (error.retriable) {
        // A partition error may mean the partition count changed: re-read it.
        void this.refreshPartitions().catch(() => {});
      }
      return { topic, partition, error };
    }
    if (this.acks === 0) return undefined;
    // Never count as acknowledged what kafkajs did not send: it silently skips partitions
    // its metadata does not know (e.g. right after a broker restart or a partition change).
    const mine = answered.find((r) => r.partition === partition && r.errorCode === 0);
    if (!mine) {
      this.markStale(`partition ${partition} of ${topic} is not in the client's metadata`);
      const error: SendError = sendError(
        `kafkajs did not send partition ${partition} of ${topic}: not in its metadata`,
        true,
        'UNKNOWN_TOPIC_OR_PARTITION',
      );
      return { topic, partition, error };
    }
    if (receipts && mine.baseOffset !== undefined) {
      tellLaneOffsets(topic, partition, records, Number(mine.baseOffset));
    }
    return undefined;
  }

  async disconnect(): Promise<void> {
    clearInterval(this.refreshTimer);
    this.connected = false;
    await this.producer?.disconnect().catch(() => {});
    await this.admin?.disconnect().catch(() => {});
  }
}
