import {
  Admin,
  type Broker,
  type ClusterMetadata,
  compressionsAlgorithms,
  type Connection,
  findErrorBy,
  kGetApi,
  kGetConnection,
  type MessageRecord,
  MultipleErrors,
  NumericMap,
  Producer,
  type ProducerInfo,
  produceV11,
  protocolErrors,
  protocolErrorsCodesById,
  ResponseError,
  TimeoutError,
} from '@platformatic/kafka';
import type { CompressionName } from '../config/fleetsim.config.js';
import { partitionFor } from './fnv1a.partitioner.js';
import type { OutgoingRecord } from './outgoing.record.js';
import {
  ALL_SENT,
  type BatchSender,
  byPartition,
  type PartitionFailure,
  type SendError,
  sendError,
  type SenderOptions,
  type SendResult,
} from './sender.js';

/**
 * Throws unless @platformatic/kafka can compress with `name` on this Node. It ships every
 * codec Kafka defines: gzip and zstd from node:zlib, snappy and LZ4 (frame format) as
 * WebAssembly, CRC-32C natively (@node-rs/crc32) or as WebAssembly.
 */
export function checkPlatformaticCodec(name: CompressionName): void {
  const algorithm = compressionsAlgorithms[name];
  if (!algorithm?.available) {
    throw new Error(`compression "${name}" is not available to @platformatic/kafka on this Node`);
  }
}

interface LibraryError extends Error {
  apiId?: string;
  canRetry?: boolean;
  closed?: boolean;
  code?: string;
  errors?: unknown[];
}

/**
 * A library error as fleetsim's SendError. A broker's error keeps its Kafka name and the
 * library's verdict on retrying; not reaching a broker (NETWORK_EXCEPTION) or not hearing
 * back in time (REQUEST_TIMED_OUT) is always worth another try; a client-side refusal
 * (UserError: bad options, serialization) is not.
 */
export function platformaticSendError(err: unknown): SendError {
  const e = err as LibraryError;
  const message = e?.message ?? String(err);
  if (typeof e?.apiId === 'string') {
    return sendError(message, e.apiId, e.canRetry === true, err);
  }
  if (e instanceof TimeoutError) return sendError(message, 'REQUEST_TIMED_OUT', true, err);
  if (e?.code === 'PLT_KFK_NETWORK') {
    return sendError(message, e.closed ? 'CLIENT_CLOSED' : 'NETWORK_EXCEPTION', true, err);
  }
  if (MultipleErrors.isMultipleErrors(e) && e.errors?.length) {
    // Retries and several brokers are aggregated: the most recent cause decides.
    const inner = platformaticSendError(e.errors[e.errors.length - 1]);
    return sendError(`${message}: ${inner.message}`, inner.type, inner.retriable, err);
  }
  if (e?.code === 'PLT_KFK_USER') return sendError(message, 'CLIENT_ERROR', false, err);
  return sendError(message, 'UNKNOWN_SERVER_ERROR', false, err);
}

/** The SendError for a partition's error code in a produce response. */
function partitionError(code: number): SendError {
  const id = protocolErrorsCodesById[code as keyof typeof protocolErrorsCodesById];
  const known = id ? protocolErrors[id as keyof typeof protocolErrors] : undefined;
  return sendError(
    known ? `${id}: ${known.message}` : `Kafka error code ${code}`,
    id ?? `ERROR_${code}`,
    known?.canRetry ?? false,
  );
}

/** Errors that say the client's view of leaders or partitions is out of date. */
const STALE_METADATA = new Set([
  'UNKNOWN_TOPIC_OR_PARTITION',
  'LEADER_NOT_AVAILABLE',
  'NOT_LEADER_OR_FOLLOWER',
  'FENCED_LEADER_EPOCH',
]);

/** Errors after which an idempotent producer cannot go on with its producer id. */
const PRODUCER_STATE_ERRORS = new Set([
  'OUT_OF_ORDER_SEQUENCE_NUMBER',
  'UNKNOWN_PRODUCER_ID',
  'INVALID_PRODUCER_EPOCH',
]);

/** How long the broker may wait for the in-sync replicas' acknowledgements, as kafkajs's. */
const PRODUCE_TIMEOUT_MS = 30_000;

/** The library's Produce API at whichever version the broker and the library share. */
type ProduceApi = typeof produceV11.api;
type ProduceResponse = produceV11.ProduceResponse;

/** The broker already has this batch (same producer id, epoch and sequence): it is written. */
const DUPLICATE_SEQUENCE_NUMBER = 46;

/** Kafka's sequence numbers wrap around after 2^31 - 1. */
const nextSequence = (sequence: number, count: number) => (sequence + count) % 2 ** 31;

const EMPTY_HEADERS = new Map<Buffer, Buffer>();

/**
 * Sends batches with @platformatic/kafka: pre-serialized Buffer keys and values to an explicit
 * partition (FNV-1a of the key modulo the partition count the broker reports), no headers.
 *
 * The library provides the cluster metadata (refreshed every `metadataRefreshMs`, and at once
 * after a stale-leader error), the broker connections (TCP_NODELAY), API version negotiation,
 * record batches with their CRC-32C, every codec, and the producer id of an idempotent
 * producer. fleetsim issues the produce requests through the library's own Produce API, one per
 * leader broker, and reads each partition's result from the response, so one partition's
 * error neither fails nor re-sends the others. With idempotence it keeps the producer id and
 * each partition's sequence number itself and advances a sequence only when its partition is
 * acknowledged: a retry after an ambiguous failure (written, answer lost) carries the same
 * sequence and the broker de-duplicates it, as Kafka's Java producer does. (The library's
 * Producer.send starts a new producer id after any failure, which cannot de-duplicate.)
 */
export class PlatformaticSender implements BatchSender {
  /** The library's client, made by connect() (a closed one cannot be opened again). */
  private producer!: Producer<Buffer, Buffer, Buffer, Buffer>;
  private refreshTimer?: NodeJS.Timeout;
  private readonly acks: -1 | 0 | 1;
  /** The idempotent producer's id and epoch, and the next sequence number per partition. */
  private producerInfo?: ProducerInfo;
  private readonly sequences = new Map<number, number>();
  partitionCount: number;
  connected = false;

  constructor(private readonly options: SenderOptions) {
    checkPlatformaticCodec(options.compression);
    this.partitionCount = options.topicPartitions;
    this.acks = options.idempotent ? -1 : options.requiredAcks;
  }

  private newProducer(): Producer<Buffer, Buffer, Buffer, Buffer> {
    const options = this.options;
    return new Producer({
      clientId: options.clientId,
      bootstrapBrokers: options.brokers,
      connectTimeout: 3000,
      requestTimeout: 30_000,
      timeout: PRODUCE_TIMEOUT_MS,
      metadataMaxAge: options.metadataRefreshMs ?? 10_000,
      // fleetsim retries on its own, per partition, counting every retry.
      retries: 0,
      maxInflights: options.idempotent ? 1 : options.maxInFlightRequests,
      autocreateTopics: false,
    });
  }

  get topic(): string {
    return this.options.topic;
  }

  async connect(): Promise<void> {
    this.producer = this.newProducer();
    try {
      await this.ensureTopic();
    } catch (err) {
      await this.producer.close(true).catch(() => {});
      throw err;
    }
    this.connected = true;
    const every = this.options.metadataRefreshMs ?? 10_000;
    this.refreshTimer = setInterval(() => void this.refreshPartitions().catch(() => {}), every);
    this.refreshTimer.unref();
  }

  /** Creates the topic when it is missing; the partition count of an existing one wins. */
  async ensureTopic(): Promise<void> {
    const admin = new Admin({
      clientId: `${this.options.clientId}-admin`,
      bootstrapBrokers: this.options.brokers,
      connectTimeout: 3000,
      retries: 1,
      retryDelay: 200,
    });
    try {
      const topics = await admin.listTopics();
      if (!topics.includes(this.options.topic)) {
        await admin
          .createTopics({
            topics: [this.options.topic],
            partitions: this.options.topicPartitions,
            replicas: this.options.topicReplicationFactor,
          })
          .catch((err: unknown) => {
            if (!findErrorBy(err as Error, 'apiId', 'TOPIC_ALREADY_EXISTS')) throw err;
          });
      }
    } finally {
      await admin.close().catch(() => {});
    }
    await this.waitForLeaders();
  }

  /**
   * Reads the topic's metadata until it is known and every partition has a leader (a new
   * topic's take a moment to appear).
   */
  private async waitForLeaders(): Promise<void> {
    const deadline = Date.now() + 15_000;
    for (;;) {
      let problem: string;
      try {
        const meta = await this.producer.metadata({
          topics: [this.options.topic],
          forceUpdate: true,
        });
        const topic = meta.topics.get(this.options.topic);
        if (topic && topic.partitions.every((p) => p && p.leader >= 0)) {
          this.partitionCount = topic.partitionsCount;
          return;
        }
        problem = 'has partitions without a leader';
      } catch (err) {
        problem = `has no metadata yet (${(err as Error).message})`;
      }
      if (Date.now() > deadline) throw new Error(`topic ${this.options.topic} ${problem}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  /**
   * Re-reads the topic's partition count into the library's metadata and adopts it: sends
   * look their partitions' leaders up in that same metadata.
   */
  async refreshPartitions(): Promise<number> {
    const meta = await this.producer.metadata({
      topics: [this.options.topic],
      forceUpdate: true,
    });
    const count = meta.topics.get(this.options.topic)?.partitionsCount ?? 0;
    if (count > 0) this.partitionCount = count;
    return this.partitionCount;
  }

  async ping(): Promise<boolean> {
    if (!this.connected) return false;
    try {
      await this.refreshPartitions();
      return true;
    } catch {
      return false;
    }
  }

  partition(hash: number): number {
    return partitionFor(hash, this.partitionCount);
  }

  async send(records: OutgoingRecord[]): Promise<SendResult> {
    if (!this.connected) {
      throw sendError('producer is not connected', 'NETWORK_EXCEPTION', true);
    }
    const producer = this.producer;
    let meta: ClusterMetadata;
    try {
      meta = await producer.metadata({ topics: [this.options.topic] });
      if (this.options.idempotent) this.producerInfo ??= await producer.initIdempotentProducer({});
    } catch (err) {
      producer.clearMetadata();
      throw platformaticSendError(err); // nothing was sent
    }
    const groups = byPartition(records);
    const failed: PartitionFailure[] = [];
    const topic = meta.topics.get(this.options.topic);
    const byLeader = new Map<number, number[]>();
    for (const partition of groups.keys()) {
      const leader =
        topic && partition < topic.partitionsCount
          ? topic.partitions[partition]?.leader
          : undefined;
      if (leader === undefined || leader < 0 || !meta.brokers.has(leader)) {
        const known = topic !== undefined && partition < topic.partitionsCount;
        failed.push({
          partition,
          error: sendError(
            known
              ? `partition ${partition} has no leader in the client's metadata`
              : `partition ${partition} is not in the client's metadata (${topic?.partitionsCount ?? 0} partitions)`,
            known ? 'LEADER_NOT_AVAILABLE' : 'UNKNOWN_TOPIC_OR_PARTITION',
            true,
          ),
        });
        continue;
      }
      const list = byLeader.get(leader);
      if (list) list.push(partition);
      else byLeader.set(leader, [partition]);
    }
    const requests: Promise<void>[] = [];
    for (const [leader, partitions] of byLeader) {
      requests.push(this.sendTo(meta.brokers.get(leader)!, partitions, groups, failed));
    }
    await Promise.all(requests);
    if (failed.some((f) => STALE_METADATA.has(f.error.type))) {
      // The next send reads fresh metadata (leaders, partition count).
      producer.clearMetadata();
      void this.refreshPartitions().catch(() => {});
    }
    return failed.length ? { failed } : ALL_SENT;
  }

  /** One produce request to a leader for its partitions; adds each partition's failure. */
  private async sendTo(
    broker: Broker,
    partitions: number[],
    groups: Map<number, OutgoingRecord[]>,
    failed: PartitionFailure[],
  ): Promise<void> {
    const topic = this.options.topic;
    const producerInfo = this.producerInfo;
    const messages: MessageRecord[] = [];
    let sequences: NumericMap | undefined;
    if (producerInfo) sequences = new NumericMap();
    for (const partition of partitions) {
      sequences?.set(`${topic}:${partition}`, this.sequences.get(partition) ?? 0);
      for (const r of groups.get(partition)!) {
        messages.push({ topic, partition, key: r.key, value: r.value, headers: EMPTY_HEADERS });
      }
    }
    let response: ProduceResponse | boolean | undefined;
    try {
      const connection = await new Promise<Connection>((resolve, reject) =>
        this.producer[kGetConnection](broker, (err, c) => (err ? reject(err) : resolve(c!))),
      );
      const api = await new Promise<ProduceApi>((resolve, reject) =>
        this.producer[kGetApi]('Produce', (err, a) =>
          err ? reject(err) : resolve(a as ProduceApi),
        ),
      );
      response = await api.async(connection, this.acks, PRODUCE_TIMEOUT_MS, messages, {
        compression: this.options.compression,
        producerId: producerInfo?.producerId,
        producerEpoch: producerInfo?.producerEpoch,
        sequences,
      });
    } catch (err) {
      if (!(err instanceof ResponseError)) {
        // Not answered: nothing is known to be written; the same sequences go out again.
        const error = platformaticSendError(err);
        for (const partition of partitions) failed.push({ partition, error });
        return;
      }
      response = (err as ResponseError & { response: ProduceResponse }).response;
    }
    const codes = new Map<number, number>();
    if (response && typeof response === 'object') {
      for (const t of response.responses) {
        if (t.name !== topic) continue;
        for (const pr of t.partitionResponses) codes.set(pr.index, pr.errorCode);
      }
    }
    const answered = this.acks !== 0;
    for (const partition of partitions) {
      const code = answered ? codes.get(partition) : 0;
      if (code === 0 || code === DUPLICATE_SEQUENCE_NUMBER) {
        if (producerInfo && this.producerInfo === producerInfo) {
          const count = groups.get(partition)!.length;
          this.sequences.set(partition, nextSequence(this.sequences.get(partition) ?? 0, count));
        }
        continue;
      }
      const error =
        code === undefined
          ? sendError(
              `the broker did not answer for partition ${partition}`,
              'UNKNOWN_SERVER_ERROR',
              true,
            )
          : partitionError(code);
      if (PRODUCER_STATE_ERRORS.has(error.type) && this.producerInfo === producerInfo) {
        // The broker lost or refused this producer's state: a new producer id, sequences from 0.
        this.producerInfo = undefined;
        this.sequences.clear();
        error.retriable = true;
      }
      failed.push({ partition, error });
    }
  }

  async disconnect(): Promise<void> {
    clearInterval(this.refreshTimer);
    this.connected = false;
    await this.producer?.close(true).catch(() => {});
  }
}
