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
  type Writer,
} from '@platformatic/kafka';
import type { CompressionName } from '../config/fleetsim.config.js';
import { type OutgoingRecord, type RecordHeaders, recordValue } from './outgoing.record.js';
import { platformaticSecurityOptions } from '../kafka/kafka-security.js';
import { isTopicAlreadyExists } from '../kafka/topic-exists.error.js';
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
import { EncodePool, produceParser, produceRequest } from './record.batch.js';

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
    return sendError(message, e.canRetry === true, e.apiId, err);
  }
  if (e instanceof TimeoutError) return sendError(message, true, 'REQUEST_TIMED_OUT', err);
  if (e?.code === 'PLT_KFK_NETWORK') {
    return sendError(message, true, e.closed ? 'CLIENT_CLOSED' : 'NETWORK_EXCEPTION', err);
  }
  if (MultipleErrors.isMultipleErrors(e) && e.errors?.length) {
    // Retries and several brokers are aggregated: the most recent cause decides.
    const inner = platformaticSendError(e.errors[e.errors.length - 1]);
    return sendError(`${message}: ${inner.message}`, inner.retriable, inner.type, err);
  }
  if (e?.code === 'PLT_KFK_USER') return sendError(message, false, 'CLIENT_ERROR', err);
  return sendError(message, false, 'UNKNOWN_SERVER_ERROR', err);
}

/** The SendError for a partition's error code in a produce response. */
function partitionError(code: number): SendError {
  const id = protocolErrorsCodesById[code as keyof typeof protocolErrorsCodesById];
  const known = id ? protocolErrors[id as keyof typeof protocolErrors] : undefined;
  return sendError(
    known ? `${id}: ${known.message}` : `Kafka error code ${code}`,
    known?.canRetry ?? false,
    id ?? `ERROR_${code}`,
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
/** How long a produce request may go without an answer before it counts as unanswered. */
const ANSWER_WAIT_MS = PRODUCE_TIMEOUT_MS + 5_000;

const isSendError = (err: unknown): err is SendError =>
  err instanceof Error && typeof (err as Partial<SendError>).retriable === 'boolean';

/** The library's Produce API at whichever version the broker and the library share. */
type ProduceApi = typeof produceV11.api;
type ProduceResponse = produceV11.ProduceResponse;

/** The broker already has this batch (same producer id, epoch and sequence): it is written. */
const DUPLICATE_SEQUENCE_NUMBER = 46;

/** Kafka's sequence numbers wrap around after 2^31 - 1. */
const nextSequence = (sequence: number, count: number) => (sequence + count) % 2 ** 31;

const EMPTY_HEADERS = new Map<Buffer, Buffer>();

/** Shared headers as the library takes them, converted once per shared headers object. */
const headerMaps = new WeakMap<RecordHeaders, Map<Buffer, Buffer>>();
function headerMap(headers: RecordHeaders | undefined): Map<Buffer, Buffer> {
  if (!headers) return EMPTY_HEADERS;
  let map = headerMaps.get(headers);
  if (!map) {
    map = new Map();
    for (const [name, value] of Object.entries(headers.entries)) {
      map.set(Buffer.from(name, 'utf8'), value);
    }
    headerMaps.set(headers, map);
  }
  return map;
}

/** Topic errors that trying again will not cure. */
const TOPIC_REFUSED = ['INVALID_TOPIC_EXCEPTION', 'TOPIC_AUTHORIZATION_FAILED'];

/** A lane of a request: its topic, partition and records. */
interface Lane {
  topic: string;
  partition: number;
  records: OutgoingRecord[];
}

/**
 * Sends batches with @platformatic/kafka: pre-serialized Buffer keys and values to an explicit
 * partition (FNV-1a of the key modulo the partition count the broker reports for the record's
 * topic), with the records' shared headers; a batch may hold several topics.
 *
 * The library provides the cluster metadata (refreshed every `metadataRefreshMs`, and at once
 * after a stale-leader error), the broker connections (TCP_NODELAY), API version negotiation,
 * record batches with their CRC-32C, every codec, and the producer id of an idempotent
 * producer. fleetsim issues the produce requests through the library's own Produce API, one per
 * leader broker, and reads each lane's (topic, partition) result and base offset from the
 * response, so one lane's error neither fails nor re-sends the others. With idempotence it keeps the producer id and
 * each partition's sequence number itself and advances a sequence only when its partition is
 * acknowledged: a retry after an ambiguous failure (written, answer lost) carries the same
 * sequence and the broker de-duplicates it, as Kafka's Java producer does. (The library's
 * Producer.send starts a new producer id after any failure, which cannot de-duplicate.)
 */
export class PlatformaticSender implements BatchSender {
  /** The library's client, made by connect() (a closed one cannot be opened again). */
  private producer!: Producer<Buffer, Buffer, Buffer, Buffer>;
  private refreshTimer?: NodeJS.Timeout;
  readonly acks: -1 | 0 | 1;
  /** The idempotent producer's id and epoch, and the next sequence number per lane. */
  private producerInfo?: ProducerInfo;
  private readonly sequences = new Map<string, number>();
  /** Buffers produce requests are encoded in (hot path; see record.batch.ts). */
  private readonly encodePool = new EncodePool();
  /** What records are routed by (see TopicPartitions). */
  private readonly counts: TopicPartitions;
  connected = false;

  constructor(private readonly options: SenderOptions) {
    this.counts = new TopicPartitions(options.topic);
    checkPlatformaticCodec(options.compression);
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
      // Idempotence keeps order with up to 5 requests in flight per broker, as Kafka's Java
      // producer (and the batching sends one request per partition at a time).
      maxInflights: options.idempotent
        ? Math.min(5, options.maxInFlightRequests)
        : options.maxInFlightRequests,
      autocreateTopics: false,
      ...platformaticSecurityOptions(options.security),
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

  /**
   * Creates the configured topic when it is missing (the partition count of an existing one
   * wins) and reads its partition count. A topic template (`{fleetId}`) names no topic.
   */
  async ensureTopic(): Promise<void> {
    if (isTopicTemplate(this.options.topic)) return;
    await this.createTopic(this.options.topic);
    this.counts.update(this.options.topic, await this.waitForLeaders(this.options.topic));
  }

  get partitionCount(): number {
    return this.counts.own;
  }

  private async createTopic(topic: string): Promise<void> {
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
      if (!topics.includes(topic)) {
        await admin
          .createTopics({
            topics: [topic],
            partitions: this.options.topicPartitions,
            replicas: this.options.topicReplicationFactor,
          })
          .catch((err: unknown) => {
            if (!isTopicAlreadyExists(err)) throw err;
          });
      }
    } finally {
      await admin.close().catch(() => {});
    }
  }

  /**
   * Reads a topic's metadata until it is known and every partition has a leader (a new
   * topic's take a moment to appear); resolves with its partition count.
   */
  private async waitForLeaders(name: string): Promise<number> {
    const deadline = Date.now() + 15_000;
    for (;;) {
      let problem: string;
      try {
        const meta = await this.producer.metadata({ topics: [name], forceUpdate: true });
        const topic = meta.topics.get(name);
        if (topic && topic.partitions.every((p) => p && p.leader >= 0)) {
          return topic.partitionsCount;
        }
        problem = 'has partitions without a leader';
      } catch (err) {
        problem = `has no metadata yet (${(err as Error).message})`;
      }
      if (Date.now() > deadline) {
        throw sendError(`topic ${name} ${problem}`, true, 'LEADER_NOT_AVAILABLE');
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  /** Creates `topic` if it is missing (configured partitions) and learns its partition count. */
  prepareTopic(topic: string): Promise<void> {
    return this.counts.prepare(topic, async () => {
      if (!this.connected) {
        throw sendError('producer is not connected', true, 'NETWORK_EXCEPTION');
      }
      try {
        await this.createTopic(topic);
        return await this.waitForLeaders(topic);
      } catch (err) {
        const error = platformaticSendError(err);
        const refused = TOPIC_REFUSED.find((t) => findErrorBy(err as Error, 'apiId', t));
        throw sendError(
          `topic ${topic}: ${error.message}`,
          !refused && ((err as Partial<SendError>).retriable ?? error.retriable),
          refused ?? (err as Partial<SendError>).type ?? error.type,
          err,
        );
      }
    });
  }

  /**
   * Re-reads the partition count of every topic this sender knows into the library's metadata
   * and adopts them (sends look their partitions' leaders up in that same metadata); returns
   * the configured topic's.
   */
  async refreshPartitions(): Promise<number> {
    const topics = this.counts.topics();
    if (topics.length === 0) {
      await this.producer.metadata({ topics: [], forceUpdate: true });
      return this.partitionCount;
    }
    const meta = await this.producer.metadata({ topics, forceUpdate: true });
    for (const [name, t] of meta.topics) this.counts.update(name, t.partitionsCount);
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

  partition(hash: number, topic?: string): number {
    return this.counts.partition(hash, topic);
  }

  producerIdentity(): string | undefined {
    if (!this.options.idempotent) return undefined;
    const info = this.producerInfo;
    return info ? `${String(info.producerId)}:${info.producerEpoch}` : 'none';
  }

  /**
   * Takes over another PlatformaticSender's producer id, epoch and sequence numbers (both
   * idempotent, same configured topic): fleetsim numbers the batches itself, so the broker
   * cannot tell the two clients apart and de-duplicates a retry of what the previous one may
   * have written. The previous sender must have no request in flight (setSender waits).
   */
  adoptProducerState(previous: BatchSender): boolean {
    if (
      !(previous instanceof PlatformaticSender) ||
      !previous.options.idempotent ||
      !this.options.idempotent ||
      previous.options.topic !== this.options.topic ||
      !previous.producerInfo
    ) {
      return false;
    }
    this.producerInfo = previous.producerInfo;
    this.sequences.clear();
    for (const [lane, sequence] of previous.sequences) this.sequences.set(lane, sequence);
    return true;
  }

  async send(records: OutgoingRecord[]): Promise<SendResult> {
    if (!this.connected) {
      throw sendError('producer is not connected', true, 'NETWORK_EXCEPTION');
    }
    const producer = this.producer;
    const lanes = byLane(records, this.options.topic);
    let meta: ClusterMetadata;
    try {
      meta = await producer.metadata({ topics: [...lanes.keys()] });
      if (this.options.idempotent) this.producerInfo ??= await producer.initIdempotentProducer({});
    } catch (err) {
      producer.clearMetadata();
      throw platformaticSendError(err); // nothing was sent
    }
    const failed: LaneFailure[] = [];
    const byLeader = new Map<number, Lane[]>();
    for (const [name, groups] of lanes) {
      const topic = meta.topics.get(name);
      for (const [partition, list] of groups) {
        const leader =
          topic && partition < topic.partitionsCount
            ? topic.partitions[partition]?.leader
            : undefined;
        if (leader === undefined || leader < 0 || !meta.brokers.has(leader)) {
          const known = topic !== undefined && partition < topic.partitionsCount;
          failed.push({
            topic: name,
            partition,
            error: sendError(
              known
                ? `partition ${partition} of ${name} has no leader in the client's metadata`
                : `partition ${partition} of ${name} is not in the client's metadata (${topic?.partitionsCount ?? 0} partitions)`,
              true,
              known ? 'LEADER_NOT_AVAILABLE' : 'UNKNOWN_TOPIC_OR_PARTITION',
            ),
          });
          continue;
        }
        const lane: Lane = { topic: name, partition, records: list };
        const same = byLeader.get(leader);
        if (same) same.push(lane);
        else byLeader.set(leader, [lane]);
      }
    }
    const requests: Promise<void>[] = [];
    for (const [leader, list] of byLeader) {
      requests.push(this.sendTo(meta.brokers.get(leader)!, list, failed));
    }
    await Promise.all(requests);
    if (failed.some((f) => STALE_METADATA.has(f.error.type))) {
      // The next send reads fresh metadata (leaders, partition counts).
      producer.clearMetadata();
      void this.refreshPartitions().catch(() => {});
    }
    return failed.length ? { failed } : ALL_SENT;
  }

  /** One produce request to a leader for its lanes; adds each lane's failure. */
  private async sendTo(broker: Broker, lanes: Lane[], failed: LaneFailure[]): Promise<void> {
    const producerInfo = this.producerInfo;
    let response: ProduceResponse | boolean | undefined;
    /** Whether the request may have gone out (then a failure without answer is ambiguous). */
    let requested = false;
    let deadline: NodeJS.Timeout | undefined;
    try {
      // A request the client never settles (a connection lost between write and answer)
      // must not hold its lanes for good: past the request timeout it counts as unanswered.
      const unanswered = new Promise<never>((_, reject) => {
        deadline = setTimeout(
          () =>
            reject(
              sendError(
                `no answer from broker ${broker.host}:${broker.port} within ${ANSWER_WAIT_MS} ms`,
                true,
                'REQUEST_TIMED_OUT',
              ),
            ),
          ANSWER_WAIT_MS,
        );
      });
      response = await Promise.race([
        (async () => {
          const connection = await new Promise<Connection>((resolve, reject) =>
            this.producer[kGetConnection](broker, (err, c) => (err ? reject(err) : resolve(c!))),
          );
          const api = await new Promise<ProduceApi>((resolve, reject) =>
            this.producer[kGetApi]('Produce', (err, a) =>
              err ? reject(err) : resolve(a as ProduceApi),
            ),
          );
          requested = true;
          return this.produce(connection, api, lanes, producerInfo);
        })(),
        unanswered,
      ]);
    } catch (err) {
      if (!(err instanceof ResponseError)) {
        // Not answered: nothing is known to be written; the same sequences go out again. Once
        // the request went out, it may have been written (ambiguous).
        const error = isSendError(err) ? err : platformaticSendError(err);
        error.ambiguous = requested;
        for (const { topic, partition } of lanes) failed.push({ topic, partition, error });
        return;
      }
      response = (err as ResponseError & { response: ProduceResponse }).response;
    } finally {
      clearTimeout(deadline);
    }
    const results = new Map<string, { code: number; baseOffset: bigint }>();
    if (response && typeof response === 'object') {
      for (const t of response.responses) {
        for (const pr of t.partitionResponses) {
          results.set(`${t.name}:${pr.index}`, { code: pr.errorCode, baseOffset: pr.baseOffset });
        }
      }
    }
    const answered = this.acks !== 0;
    for (const { topic, partition, records } of lanes) {
      const id = `${topic}:${partition}`;
      const result = answered ? results.get(id) : undefined;
      const code = answered ? result?.code : 0;
      if (code === 0 || code === DUPLICATE_SEQUENCE_NUMBER) {
        if (producerInfo && this.producerInfo === producerInfo) {
          this.sequences.set(id, nextSequence(this.sequences.get(id) ?? 0, records.length));
        }
        if (code === 0 && result)
          tellLaneOffsets(topic, partition, records, Number(result.baseOffset));
        continue;
      }
      const error =
        code === undefined
          ? sendError(
              `the broker did not answer for partition ${partition} of ${topic}`,
              true,
              'UNKNOWN_SERVER_ERROR',
              undefined,
              true,
            )
          : partitionError(code);
      if (PRODUCER_STATE_ERRORS.has(error.type) && this.producerInfo === producerInfo) {
        // The broker lost or refused this producer's state: a new producer id, sequences from 0.
        this.producerInfo = undefined;
        this.sequences.clear();
        error.retriable = true;
      }
      failed.push({ topic, partition, error });
    }
  }

  // --- hot path: the request's encoding (record.batch.ts) -------------------------------

  /**
   * One produce request for `lanes`, answered with the broker's response (acks 0: whether the
   * socket took it). The request is written by record.batch.ts (one buffer per partition's
   * batch) when the negotiated Produce version is one it writes (9 … 11: Kafka 2.8 and later),
   * else by the library from one message object per record.
   */
  private produce(
    connection: Connection,
    api: ProduceApi,
    lanes: Lane[],
    producerInfo: ProducerInfo | undefined,
  ): Promise<ProduceResponse | boolean> {
    const options = {
      compression: this.options.compression,
      producerId: producerInfo?.producerId,
      producerEpoch: producerInfo?.producerEpoch,
    };
    const sequenceOf = (topic: string, partition: number) =>
      producerInfo ? (this.sequences.get(`${topic}:${partition}`) ?? 0) : 0;
    const parser = produceParser(api.version);
    if (parser) {
      const batchLanes = lanes.map((l) => ({
        ...l,
        firstSequence: sequenceOf(l.topic, l.partition),
      }));
      // The space is given back once the request is answered and its encoding is over.
      const space = this.encodePool.space();
      let encoding: Promise<unknown> = Promise.resolve();
      return new Promise((resolve, reject) =>
        connection.send(
          api.key,
          api.version,
          () =>
            (encoding = produceRequest(
              this.acks,
              PRODUCE_TIMEOUT_MS,
              batchLanes,
              options,
              undefined,
              space,
            )) as Promise<Writer>,
          parser,
          true,
          true,
          (err, response) => {
            void encoding.catch(() => {}).finally(() => space.release());
            if (err) reject(err);
            else resolve(response!);
          },
        ),
      );
    }
    const messages: MessageRecord[] = [];
    let sequences: NumericMap | undefined;
    if (producerInfo) sequences = new NumericMap();
    for (const { topic, partition, records } of lanes) {
      sequences?.set(`${topic}:${partition}`, sequenceOf(topic, partition));
      for (const r of records) {
        messages.push({
          topic,
          partition,
          key: r.key,
          value: recordValue(r),
          headers: headerMap(r.headers),
        });
      }
    }
    return api.async(connection, this.acks, PRODUCE_TIMEOUT_MS, messages, {
      ...options,
      sequences,
    });
  }

  // --- end of the hot path --------------------------------------------------------------

  async disconnect(): Promise<void> {
    clearInterval(this.refreshTimer);
    this.connected = false;
    await this.producer?.close(true).catch(() => {});
  }
}
