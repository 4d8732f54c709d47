import { EventEmitter } from 'node:events';
import { Socket } from 'node:net';
import kafkajs, {
  type Admin,
  type ISocketFactory,
  type Kafka,
  type Producer,
  type logCreator,
} from 'kafkajs';
import type { CompressionName } from '../config/fleetsim.config.js';
import { type BatchSender, sendError } from './batching.producer.js';
import { registerCompressionCodecs } from './compression.codecs.js';
import { partitionFor } from '../model/fnv1a.js';
import type { OutgoingRecord } from './outgoing.record.js';

const { CompressionCodecs, CompressionTypes } = kafkajs;

type Message = { key: Buffer; value: Buffer; partition: number; headers?: Record<string, Buffer> };

/** Whether kafka.topic is a template naming one topic per fleet (`{fleetId}`). */
export function isTopicTemplate(topic: string): boolean {
  return topic.includes('{fleetId}');
}

registerCompressionCodecs();

export interface KafkaSenderOptions {
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
  logCreator?: logCreator;
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

const TRANSIENT =
  /Connection|Network|Timeout|BrokerNotFound|LeaderNotAvailable|NotLeader|MetadataNotLoaded/;

/**
 * Whether a kafkajs send error is worth another try. kafkajs wraps the cause when its own
 * retries run out (KafkaJSNumberOfRetriesExceeded) or when it gives up
 * (KafkaJSNonRetriableError, flagged not retriable even around a refused connection), so the
 * whole chain is read: a broker that cannot be reached is always worth another try.
 */
export function isRetriable(err: unknown): boolean {
  type KafkaError = {
    retriable?: boolean;
    name?: string;
    originalError?: unknown;
    cause?: unknown;
  };
  let e = err as KafkaError | undefined;
  let innermost = e;
  for (let depth = 0; e && depth < 10; depth++) {
    if (TRANSIENT.test(e.name ?? '')) return true;
    innermost = e;
    e = (e.originalError ?? e.cause) as KafkaError | undefined;
  }
  if (innermost !== err && typeof innermost?.retriable === 'boolean') return innermost.retriable;
  const outer = err as KafkaError | undefined;
  if (outer?.name === 'KafkaJSNumberOfRetriesExceeded') return true;
  return typeof outer?.retriable === 'boolean' ? outer.retriable : false;
}

/** The Kafka error type of a kafkajs error, looking through its wrappers. */
export function errorType(err: unknown): string {
  let e = err as { type?: string; originalError?: unknown; cause?: unknown } | undefined;
  for (let depth = 0; e && depth < 10; depth++) {
    if (e.type) return e.type;
    e = (e.originalError ?? e.cause) as typeof e;
  }
  return '';
}

/**
 * Tells each record's receipt its offset: a partition's records of one request are stored
 * in request order from the partition's base offset.
 */
function tellOffsets(
  records: OutgoingRecord[],
  answered: Array<{ topicName: string; partition: number; errorCode: number; baseOffset?: string }>,
  topic: string,
): void {
  const next = new Map<string, number>();
  for (const a of answered) {
    if (a.errorCode === 0 && a.baseOffset !== undefined && Number(a.baseOffset) >= 0) {
      next.set(`${a.topicName}\0${a.partition}`, Number(a.baseOffset));
    }
  }
  for (const r of records) {
    const t = r.topic ?? topic;
    const k = `${t}\0${r.partition}`;
    const offset = next.get(k);
    if (offset === undefined) continue;
    next.set(k, offset + 1);
    r.receipt?.offset?.(t, r.partition, offset);
  }
}

/** kafkajs never sets TCP_NODELAY; small produce requests then wait on Nagle's algorithm. */
const noDelaySocketFactory: ISocketFactory = ({ host, port, onConnect }) => {
  const socket = new Socket();
  socket.setNoDelay(true);
  socket.setKeepAlive(true, 60_000);
  socket.connect({ host, port }, onConnect);
  return socket;
};

/**
 * Sends batches with kafkajs: explicit partition per message (FNV-1a of the key modulo the
 * topic's partition count, re-read every `metadataRefreshMs`), pre-serialized values, the
 * records' shared headers, TCP_NODELAY sockets.
 */
export class KafkaSender implements BatchSender {
  readonly kafka: Kafka;
  private producer?: Producer;
  private admin?: Admin;
  private refreshTimer?: NodeJS.Timeout;
  /** Sends in flight per kafkajs producer, so a replaced one is closed only when idle. */
  private readonly inFlight = new Map<Producer, number>();
  private readonly settled = new EventEmitter();
  private renewing = false;
  private readonly compression: number;
  /** Partition count of the configured topic. */
  partitionCount: number;
  /** Partition counts of the other topics records named (fleet topics, the label topic). */
  private readonly otherTopics = new Map<string, number>();
  /** Topics being created or looked up, so that concurrent asks share one. */
  private readonly preparing = new Map<string, Promise<void>>();
  connected = false;

  constructor(private readonly options: KafkaSenderOptions) {
    this.compression = compressionType(options.compression);
    this.partitionCount = options.topicPartitions;
    this.kafka = new kafkajs.Kafka({
      clientId: options.clientId,
      brokers: options.brokers,
      socketFactory: noDelaySocketFactory,
      connectionTimeout: 3000,
      requestTimeout: 30_000,
      retry: { retries: 2, initialRetryTime: 100, maxRetryTime: 2000 },
      logCreator: options.logCreator,
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
    this.producer = await this.newProducer();
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
    if (!isTopicTemplate(this.options.topic)) await this.createTopic(this.options.topic);
    await this.refreshPartitions();
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
    if (topic === this.options.topic || this.otherTopics.has(topic)) return Promise.resolve();
    let p = this.preparing.get(topic);
    if (!p) {
      p = (async () => {
        if (!this.admin || !this.connected) throw sendError('producer is not connected', true);
        try {
          await this.createTopic(topic);
          const meta = await this.admin.fetchTopicMetadata({ topics: [topic] });
          const count = meta.topics[0]?.partitions.length ?? 0;
          if (count > 0) this.otherTopics.set(topic, count);
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
      })().finally(() => this.preparing.delete(topic));
      this.preparing.set(topic, p);
    }
    return p;
  }

  private async newProducer(): Promise<Producer> {
    const producer = this.kafka.producer({
      idempotent: this.options.idempotent,
      maxInFlightRequests: this.options.idempotent ? 1 : this.options.maxInFlightRequests,
      allowAutoTopicCreation: false,
      // fleetsim retries on its own, counting every retry; the idempotent producer insists on one.
      retry: { retries: this.options.idempotent ? 1 : 0, initialRetryTime: 100 },
    });
    await producer.connect();
    return producer;
  }

  /**
   * Re-reads the topic's partition count; returns it. kafkajs silently skips messages for
   * partitions its producer has no metadata for, so before routing to a changed count a fresh
   * kafkajs producer (which loads the topic's metadata on its first send) takes over; the old
   * one is disconnected once its requests in flight are answered.
   */
  async refreshPartitions(): Promise<number> {
    const own = isTopicTemplate(this.options.topic) ? [] : [this.options.topic];
    const topics = [...own, ...this.otherTopics.keys()];
    if (topics.length === 0) return this.partitionCount;
    const meta = await this.admin!.fetchTopicMetadata({ topics });
    let changed = false;
    for (const t of meta.topics) {
      const count = t.partitions.length;
      if (count === 0) continue;
      if (t.name === this.options.topic) {
        if (count !== this.partitionCount) changed = true;
        this.partitionCount = count;
      } else {
        if (count !== this.otherTopics.get(t.name)) changed = true;
        this.otherTopics.set(t.name, count);
      }
    }
    if (changed && this.producer) {
      const old = this.producer;
      this.producer = await this.newProducer();
      void this.retire(old);
    }
    return this.partitionCount;
  }

  /** Replaces a kafkajs producer whose metadata is stale with a fresh one (once per producer). */
  private async renewProducer(stale: Producer): Promise<void> {
    if (this.producer !== stale || this.renewing) return;
    this.renewing = true;
    try {
      await this.refreshPartitions();
      if (this.producer === stale) {
        this.producer = await this.newProducer();
        void this.retire(stale);
      }
    } finally {
      this.renewing = false;
    }
  }

  private async retire(producer: Producer): Promise<void> {
    while ((this.inFlight.get(producer) ?? 0) > 0) {
      await new Promise<void>((resolve) => this.settled.once('settled', resolve));
    }
    this.inFlight.delete(producer);
    await producer.disconnect().catch(() => {});
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
    if (topic === undefined || topic === this.options.topic) {
      return partitionFor(hash, this.partitionCount);
    }
    const count = this.otherTopics.get(topic);
    return count === undefined ? -1 : partitionFor(hash, count);
  }

  async send(records: OutgoingRecord[]): Promise<OutgoingRecord[] | void> {
    const producer = this.producer;
    if (!producer) throw sendError('producer is not connected', true);
    const topic = this.options.topic;
    const messages: Message[] = [];
    // Records of other topics (fleet topics, the label topic), by topic; rare but allowed.
    let others: Map<string, Message[]> | undefined;
    let receipts = false;
    for (let i = 0; i < records.length; i++) {
      const r = records[i];
      if (r.receipt) receipts = true;
      let list = messages;
      if (r.topic !== undefined && r.topic !== topic) {
        others ??= new Map();
        list = others.get(r.topic) ?? [];
        if (list.length === 0) others.set(r.topic, list);
      }
      list.push({
        key: r.key,
        value: r.value,
        partition: r.partition,
        // Shared, frozen objects: kafkajs only reads them.
        headers: r.headers?.entries as Record<string, Buffer> | undefined,
      });
    }
    const topicMessages = messages.length ? [{ topic, messages }] : [];
    if (others) for (const [t, m] of others) topicMessages.push({ topic: t, messages: m });
    const acks = this.options.idempotent ? -1 : this.options.requiredAcks;
    this.inFlight.set(producer, (this.inFlight.get(producer) ?? 0) + 1);
    let answered: Array<{
      topicName: string;
      partition: number;
      errorCode: number;
      baseOffset?: string;
    }>;
    try {
      answered = await producer.sendBatch({
        acks,
        compression: this.compression,
        topicMessages,
      });
    } catch (err) {
      const type = errorType(err);
      if (PRODUCER_STATE_ERRORS.has(type)) {
        // The idempotent producer's numbering no longer matches the broker's (e.g. state lost
        // in a broker failure): a fresh client gets a new producer id; the batch is retried.
        void this.renewProducer(producer).catch(() => {});
        throw sendError(
          `producer state lost (${type}: ${(err as Error).message}); renewing the client`,
          true,
          type,
          err,
        );
      }
      // A partition error may mean the partition count changed: re-read it before the retry.
      void this.refreshPartitions().catch(() => {});
      throw sendError((err as Error).message, isRetriable(err), type, err);
    } finally {
      this.inFlight.set(producer, (this.inFlight.get(producer) ?? 1) - 1);
      this.settled.emit('settled');
    }
    if (acks !== 0) {
      // Never count as acknowledged what kafkajs did not send: it silently skips partitions
      // its metadata does not know (e.g. right after a broker restart or a partition change).
      const ok = new Set(
        answered.filter((r) => r.errorCode === 0).map((r) => `${r.topicName}\0${r.partition}`),
      );
      const unanswered = records.filter((r) => !ok.has(`${r.topic ?? topic}\0${r.partition}`));
      if (receipts) tellOffsets(records, answered, topic);
      if (unanswered.length) {
        void this.renewProducer(producer).catch(() => {});
        return unanswered;
      }
    }
  }

  async disconnect(): Promise<void> {
    clearInterval(this.refreshTimer);
    this.connected = false;
    await this.producer?.disconnect().catch(() => {});
    await this.admin?.disconnect().catch(() => {});
  }
}
