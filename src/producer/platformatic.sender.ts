import {
  Admin,
  compressionsAlgorithms,
  findErrorBy,
  MultipleErrors,
  type MessageToProduce,
  Producer,
  type ProduceResult,
  protocolErrors,
  protocolErrorsCodesById,
  ResponseError,
  TimeoutError,
} from '@platformatic/kafka';
import type { CompressionName } from '../config/fleetsim.config.js';
import { platformaticSecurityOptions } from '../kafka/kafka-security.js';
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
  produced?: ProduceResult;
  response?: {
    responses?: Array<{
      name: string;
      partitionResponses: Array<{ index: number; errorCode: number }>;
    }>;
  };
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

/**
 * Sends batches with @platformatic/kafka: pre-serialized Buffer keys and values to an explicit
 * partition (FNV-1a of the key modulo the partition count the broker reports), no headers.
 * The library batches per broker, compresses, checksums, keeps TCP_NODELAY sockets, refreshes
 * its metadata (every `metadataRefreshMs`, and at once after a stale-metadata error) and
 * recovers an idempotent producer's state; fleetsim reads each partition's result from the
 * produce responses, so one partition's error neither fails nor re-sends the others.
 */
export class PlatformaticSender implements BatchSender {
  /** The library's client, made by connect() (a closed one cannot be opened again). */
  private producer!: Producer<Buffer, Buffer, Buffer, Buffer>;
  private refreshTimer?: NodeJS.Timeout;
  private readonly acks: -1 | 0 | 1;
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
      // The broker's own wait for acknowledgements, as kafkajs's produce timeout.
      timeout: 30_000,
      metadataMaxAge: options.metadataRefreshMs ?? 10_000,
      // fleetsim retries on its own, per partition, counting every retry. A library retry
      // re-sends every partition of a request: only safe when the broker de-duplicates
      // (idempotence, where the library insists on more than one retry).
      retries: options.idempotent ? 2 : 0,
      retryDelay: 100,
      // Read each partition's result instead of re-sending the whole request.
      repeatOnStaleMetadata: false,
      idempotent: options.idempotent,
      acks: this.acks,
      maxInflights: options.idempotent ? 1 : options.maxInFlightRequests,
      ...(options.compression === 'none' ? {} : { compression: options.compression }),
      autocreateTopics: false,
      ...platformaticSecurityOptions(options.security),
    });
  }

  get topic(): string {
    return this.options.topic;
  }

  async connect(): Promise<void> {
    this.producer = this.newProducer();
    await this.ensureTopic();
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
      ...platformaticSecurityOptions(this.options.security),
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

  /** Reads the topic's metadata until every partition has a leader (a new topic's take a moment). */
  private async waitForLeaders(): Promise<void> {
    const deadline = Date.now() + 15_000;
    for (;;) {
      const meta = await this.producer.metadata({
        topics: [this.options.topic],
        forceUpdate: true,
      });
      const topic = meta.topics.get(this.options.topic);
      if (topic && topic.partitions.every((p) => p && p.leader >= 0)) {
        this.partitionCount = topic.partitionsCount;
        return;
      }
      if (Date.now() > deadline) {
        throw new Error(`topic ${this.options.topic} has partitions without a leader`);
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  /**
   * Re-reads the topic's partition count into the library's metadata and adopts it: the
   * library routes with that same metadata, so a partition fleetsim picks is one it knows.
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
    const topic = this.options.topic;
    // The library maps a partition it does not know onto one it does (modulo its count):
    // never let it, the key would land on the wrong partition.
    const known = this.producer.currentMetadata?.topics.get(topic)?.partitionsCount;
    let unknown: Set<number> | undefined;
    const messages: MessageToProduce<Buffer, Buffer, Buffer, Buffer>[] = [];
    for (let i = 0; i < records.length; i++) {
      const r = records[i];
      if (known !== undefined && r.partition >= known) {
        (unknown ??= new Set()).add(r.partition);
        continue;
      }
      messages.push({ topic, key: r.key, value: r.value, partition: r.partition });
    }
    const failed: PartitionFailure[] = [];
    if (unknown) {
      void this.refreshPartitions().catch(() => {});
      for (const partition of unknown) {
        failed.push({
          partition,
          error: sendError(
            `partition ${partition} is not in the client's metadata (${known} partitions)`,
            'UNKNOWN_TOPIC_OR_PARTITION',
            true,
          ),
        });
      }
    }
    if (messages.length === 0) return { failed };
    try {
      await this.producer.send({ messages });
      return unknown ? { failed } : ALL_SENT;
    } catch (err) {
      const partitions = new Set(byPartition(records).keys());
      for (const p of unknown ?? []) partitions.delete(p);
      for (const f of this.outcomes(err, partitions)) failed.push(f);
      return { failed };
    }
  }

  /**
   * The partitions of a failed send that were not acknowledged, each with its own error.
   * `error.produced` lists what the brokers that answered without error wrote; a broker's
   * error response (ResponseError) holds every partition of its request with its own error
   * code (0 when written); partitions of a broker that was not reached or did not answer take
   * the request's error.
   */
  private outcomes(err: unknown, partitions: Set<number>): PartitionFailure[] {
    const topic = this.options.topic;
    const byPart = new Map<number, SendError | null>();
    for (const o of (err as LibraryError).produced?.offsets ?? []) {
      if (o.topic === topic) byPart.set(o.partition, null);
    }
    let requestError: SendError | undefined;
    const visit = (e: unknown, depth: number): void => {
      if (!e || depth > 8) return;
      const le = e as LibraryError;
      if (le instanceof ResponseError && le.response?.responses) {
        for (const t of le.response.responses) {
          if (t.name !== topic) continue;
          for (const pr of t.partitionResponses) {
            byPart.set(pr.index, pr.errorCode === 0 ? null : partitionError(pr.errorCode));
          }
        }
        return;
      }
      if (MultipleErrors.isMultipleErrors(le) && le.errors) {
        for (const inner of le.errors) visit(inner, depth + 1);
        return;
      }
      requestError = platformaticSendError(e);
    };
    visit(err, 0);
    const failed: PartitionFailure[] = [];
    let stale = false;
    for (const partition of partitions) {
      const known = byPart.get(partition);
      if (known === null) continue;
      const error = known ?? requestError ?? platformaticSendError(err);
      if (STALE_METADATA.has(error.type)) stale = true;
      failed.push({ partition, error });
    }
    // The next send reads fresh metadata (leaders, partition count).
    if (stale) this.producer.clearMetadata();
    return failed;
  }

  async disconnect(): Promise<void> {
    clearInterval(this.refreshTimer);
    this.connected = false;
    await this.producer?.close(true).catch(() => {});
  }
}
