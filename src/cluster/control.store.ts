import {
  Admin,
  Consumer,
  type Message,
  MessagesStreamModes,
  Producer,
  ProduceAcks,
  stringDeserializers,
  stringSerializers,
} from '@platformatic/kafka';
import { type KafkaSecurity, platformaticSecurityOptions } from '../kafka/kafka-security.js';
import { isTopicAlreadyExists } from '../kafka/topic-exists.error.js';
import { AsyncResource } from 'node:async_hooks';
import { randomUUID } from 'node:crypto';
import { DomainError } from '../model/domain.error.js';
import { ResumingStream } from './resuming.stream.js';

/** One record of the control topic: key `kind:id`, value JSON, null for a tombstone. */
export interface ControlRecord {
  kind: string;
  id: string;
  value: unknown;
  offset: number;
}

export interface ControlStoreOptions {
  brokers: string[];
  clientId: string;
  /** The compacted control topic. */
  topic: string;
  /** Called for every record, in topic order, once per record. */
  apply: (record: ControlRecord) => void | Promise<void>;
  log: (message: string) => void;
  /** TLS and SASL (kafka.tls, kafka.sasl), as the producer connects. */
  security?: KafkaSecurity;
  /**
   * Longest `write` and `sync` wait for the record to be applied here, in ms (none: as long
   * as it takes). They reject with UNAVAILABLE then (a write's record is in the topic: it is
   * applied once the reader is back).
   */
  applyTimeoutMs?: number;
}

interface Waiter {
  offset: number;
  resolve: () => void;
  reject: (error: Error) => void;
}

/**
 * The cluster's shared desired state: a compacted, single-partition Kafka topic (one total
 * order) that every process reads from the start and applies record by record. `write`
 * resolves once this process has applied its own record (read-your-writes).
 */
export class ControlStore {
  private readonly producer: Producer<string, string, string, string>;
  private readonly consumer: Consumer<string, string, string, string>;
  private readonly admin: Admin;
  /** Reads the topic; opens another stream when one fails (a broker died, see ResumingStream). */
  private reader?: ResumingStream<Message<string, string, string, string>>;
  /** Offset of the last record read and queued to be applied (-1 before any). */
  private taken = -1;
  /** Offset of the last record applied (-1 before any). */
  private applied = -1;
  private readonly waiters: Waiter[] = [];
  /** Set once closed (or failed): every wait rejects with it. */
  private failure?: Error;
  private applying: Promise<void> = Promise.resolve();
  /**
   * The async context of each write of this process, by key: its record is applied in the
   * context of the request that wrote it (its log lines carry the request id).
   */
  private readonly scopes = new Map<string, AsyncResource>();

  constructor(private readonly options: ControlStoreOptions) {
    const base = {
      clientId: options.clientId,
      bootstrapBrokers: options.brokers,
      ...platformaticSecurityOptions(options.security),
    };
    // Compressed: an anomaly naming 100,000 device ids is a record of 4 MB before (and a
    // few hundred KB after) compression.
    this.producer = new Producer({ ...base, serializers: stringSerializers, compression: 'gzip' });
    // A private, throwaway group: every process reads the whole topic; nothing is committed.
    this.consumer = new Consumer({
      ...base,
      groupId: `${options.topic}.reader.${randomUUID()}`,
      deserializers: stringDeserializers,
      autocommit: false,
      maxWaitTime: 200,
    });
    this.admin = new Admin(base);
  }

  /** The control topic's id (a new one if the topic is deleted and created again). */
  topicId = '';

  /** Creates the topic if needed, then reads it from the start up to its end. */
  async start(): Promise<void> {
    await this.ensureTopic();
    const metadata = await this.admin.metadata({ topics: [this.options.topic] });
    this.topicId = metadata.topics.get(this.options.topic)?.id ?? '';
    const end = await this.endOffset();
    const topic = this.options.topic;
    this.reader = new ResumingStream<Message<string, string, string, string>>({
      // From the start, then (after a failure) from the record after the last one taken.
      open: async () => {
        if (this.taken >= 0) await this.checkTopicId();
        return this.consumer.consume(
          this.taken < 0
            ? { topics: [topic], mode: MessagesStreamModes.EARLIEST, autocommit: false }
            : {
                topics: [topic],
                mode: MessagesStreamModes.MANUAL,
                offsets: [{ topic, partition: 0, offset: BigInt(this.taken + 1) }],
                autocommit: false,
              },
        );
      },
      data: (message) => this.take(message),
      name: 'control topic reader',
      log: this.options.log,
    });
    await this.reader.start();
    if (end > 0) await this.until(end - 1);
  }

  /**
   * Before a stream is opened again: a control topic deleted and created anew (another topic
   * id) numbers its records from 0 again, so it is read from its start.
   */
  private async checkTopicId(): Promise<void> {
    const metadata = await this.admin.metadata({ topics: [this.options.topic], forceUpdate: true });
    const id = metadata.topics.get(this.options.topic)?.id ?? '';
    if (!id || !this.topicId || id === this.topicId) return;
    this.options.log(
      `the control topic ${this.options.topic} was created anew (id ${this.topicId} -> ${id}): reading it from the start`,
    );
    this.topicId = id;
    this.taken = -1;
    this.applied = -1;
  }

  /** Applies a record read from the topic, after those before it; once per offset. */
  private take(message: Message<string, string, string, string>): void {
    const offset = Number(message.offset);
    if (offset <= this.taken) return; // read again by a stream opened after a failure
    this.taken = offset;
    const key = message.key ?? '';
    const value = message.value;
    const scope = this.scopes.get(key);
    this.scopes.delete(key);
    this.applying = this.applying.then(async () => {
      try {
        const colon = key.indexOf(':');
        const record: ControlRecord = {
          kind: colon < 0 ? key : key.slice(0, colon),
          id: colon < 0 ? '' : key.slice(colon + 1),
          value: value ? (JSON.parse(value) as unknown) : null,
          offset,
        };
        if (scope) await scope.runInAsyncScope(() => this.options.apply(record));
        else await this.options.apply(record);
      } catch (err) {
        const error = err as Error;
        const cause = error.cause instanceof Error ? ` (${error.cause.message})` : '';
        this.options.log(`control record ${key}@${offset} not applied: ${error.message}${cause}`);
      }
      this.applied = offset;
      this.release();
    });
  }

  /**
   * Writes `kind:id` (null deletes it) and resolves once the record is applied here (rejects
   * with UNAVAILABLE after applyTimeoutMs, or once closed).
   */
  async write(kind: string, id: string, value: unknown): Promise<void> {
    if (this.failure) throw this.failure;
    const key = `${kind}:${id}`;
    this.scopes.set(key, new AsyncResource('fleetsim.control'));
    const result = await this.producer
      .send({
        messages: [
          {
            topic: this.options.topic,
            partition: 0,
            key,
            value: value === null ? undefined : JSON.stringify(value),
          },
        ],
        acks: ProduceAcks.ALL,
      })
      .catch((err: Error) => {
        this.scopes.delete(key);
        throw err;
      });
    const offset = Number(result.offsets?.[0]?.offset ?? -1);
    await this.until(
      offset,
      this.options.applyTimeoutMs,
      `${key} was written to the control topic (offset ${offset}) but not applied by this member within ${this.options.applyTimeoutMs} ms (its reader of the control topic is behind or down); it applies once the reader is back`,
    );
  }

  /**
   * Resolves once every record up to `offset` is applied here; rejects once closed, or with
   * UNAVAILABLE (`late` the message) when `timeoutMs` is given and passes first.
   */
  until(offset: number, timeoutMs?: number, late?: string): Promise<void> {
    if (this.applied >= offset) return Promise.resolve();
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const waiter: Waiter = {
        offset,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
        reject: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      };
      this.waiters.push(waiter);
      if (timeoutMs !== undefined) {
        timer = setTimeout(() => {
          const i = this.waiters.indexOf(waiter);
          if (i >= 0) this.waiters.splice(i, 1);
          reject(new DomainError('UNAVAILABLE', late ?? `not applied within ${timeoutMs} ms`));
        }, timeoutMs);
        timer.unref();
      }
    });
  }

  /**
   * Resolves once everything written to the topic before this call is applied here (rejects
   * with UNAVAILABLE after applyTimeoutMs, or once closed).
   */
  async sync(): Promise<void> {
    if (this.failure) throw this.failure;
    const end = await this.endOffset();
    if (end > 0) {
      await this.until(
        end - 1,
        this.options.applyTimeoutMs,
        `this member has not caught up with the control topic within ${this.options.applyTimeoutMs} ms (its reader is behind or down); nothing was changed`,
      );
    }
  }

  /**
   * Rejects every wait, now and from now on, with `error` (at shutdown: requests waiting for
   * their records answer instead of holding the HTTP server's close).
   */
  fail(error: Error): void {
    this.failure ??= error;
    for (const waiter of this.waiters.splice(0)) waiter.reject(this.failure);
  }

  async close(): Promise<void> {
    this.fail(new DomainError('UNAVAILABLE', 'the control topic is closed (shutting down)'));
    await this.reader?.close();
    await Promise.allSettled([
      this.consumer.close(true),
      this.producer.close(),
      this.admin.close(),
    ]);
  }

  private release(): void {
    for (let i = this.waiters.length - 1; i >= 0; i--) {
      if (this.waiters[i].offset <= this.applied) {
        this.waiters[i].resolve();
        this.waiters.splice(i, 1);
      }
    }
  }

  private async ensureTopic(): Promise<void> {
    const topics = await this.admin.listTopics();
    if (topics.includes(this.options.topic)) return;
    try {
      await this.admin.createTopics({
        topics: [this.options.topic],
        partitions: 1,
        replicas: -1,
        configs: [
          { name: 'cleanup.policy', value: 'compact' },
          { name: 'min.compaction.lag.ms', value: '60000' },
          // Above the broker's default of 1 MB: large desired state (device id lists) fits.
          { name: 'max.message.bytes', value: String(16 * 1024 * 1024) },
        ],
      });
      this.options.log(`created the control topic ${this.options.topic}`);
    } catch (err) {
      if (!isTopicAlreadyExists(err)) throw err; // another member made it meanwhile
    }
  }

  /** The control topic's end offset (number of records ever written). */
  private async endOffset(): Promise<number> {
    const listed = await this.admin.listOffsets({
      topics: [{ name: this.options.topic, partitions: [{ partitionIndex: 0, timestamp: -1n }] }],
    });
    return Number(listed[0]?.partitions[0]?.offset ?? 0);
  }
}
