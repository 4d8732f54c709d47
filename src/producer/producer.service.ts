import {
  Injectable,
  Logger,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
} from '@nestjs/common';
import { changedClientSettings } from '../config/config.patch.js';
import { getPath } from '../config/plain.js';
import { type ConfigChange, ConfigService, type PreparedChange } from '../config/config.service.js';
import type { FleetsimConfig } from '../config/fleetsim.config.js';
import {
  describeConnectionError,
  describeSecurity,
  KafkaSecurityFactory,
} from '../kafka/kafka-security.js';
import { KafkaTarget } from '../kafka/kafka-target.js';
import { DomainError } from '../model/domain.error.js';
import {
  BatchingProducer,
  type BatchingOptions,
  type ProducerObserver,
} from './batching.producer.js';
import type { BreakerState } from './circuit.breaker.js';
import type { DeliveryStats } from './delivery.stats.js';
import { createSender, loadEngine } from './engines.js';
import type { OutgoingRecord } from './outgoing.record.js';
import type { BatchSender } from './sender.js';

/** The target topic as the producer sees it. */
export interface TopicInfo {
  topic: string;
  partitions: number;
  connected: boolean;
}

function batchingOptions(config: FleetsimConfig): BatchingOptions {
  const p = config.producer;
  return {
    batchSize: p.batchSize,
    batchBytes: p.batchBytes,
    lingerMs: p.lingerMs,
    bufferMemory: p.bufferMemory,
    // As Kafka's Java producer, idempotence keeps order with up to 5 requests in flight (the
    // batching never has two requests of one partition in flight, and retries keep their
    // sequence numbers).
    maxInFlightRequests: p.idempotent ? Math.min(5, p.maxInFlightRequests) : p.maxInFlightRequests,
    maxRetries: p.maxRetries,
    retryBackoffMs: p.retryBackoffMs,
    retryBackoffMaxMs: p.retryBackoffMaxMs,
    deliveryTimeoutMs: p.deliveryTimeoutMs,
    backpressure: p.backpressure,
  };
}

/** Owns the Kafka connection and the batching producer; Nest's edge around them. */
@Injectable()
export class ProducerService implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('Producer');
  private current: BatchSender;
  private readonly producer: BatchingProducer;
  private connecting?: Promise<void>;
  /** Client swaps (config changes, renewals) run one at a time, in this chain. */
  private swaps: Promise<void> = Promise.resolve();
  /** A client swap under way (config change), awaited at shutdown. */
  private swapping?: Promise<void>;
  private stopped = false;
  private readonly security = new KafkaSecurityFactory();
  /** Why the client in use is not connected (security failures named), if it is not. */
  lastConnectError?: string;
  /** Per-batch hooks of others (metrics), called after the producer's own. */
  private readonly observers: ProducerObserver[] = [];

  constructor(
    private readonly config: ConfigService,
    private readonly target: KafkaTarget,
  ) {
    const c = config.config;
    this.current = this.buildSender(c);
    const observers = this.observers;
    this.producer = new BatchingProducer(this.current, batchingOptions(c), {
      batchAcknowledged: (messages, bytes, ms) => {
        for (const o of observers) o.batchAcknowledged?.(messages, bytes, ms);
      },
      batchSent: (messages, bytes) => {
        for (const o of observers) o.batchSent?.(messages, bytes);
      },
      batchFailed: (n, error, retriable) => {
        for (const o of observers) o.batchFailed?.(n, error, retriable);
        this.logger.warn(
          `send failed (${retriable ? 'retriable' : 'not retriable'}): ${error.message}`,
        );
      },
      retried: (n) => {
        for (const o of observers) o.retried?.(n);
      },
      dropped: (n, reason) => {
        for (const o of observers) o.dropped?.(n, reason);
      },
      breakerChanged: (state) => {
        for (const o of observers) o.breakerChanged?.(state);
        this.logger.warn(`circuit breaker ${state}`);
      },
    });
    config.onUpdated(({ previous, current }) => {
      const options = batchingOptions(current);
      if (JSON.stringify(options) !== JSON.stringify(batchingOptions(previous))) {
        this.producer.reconfigure(options);
      }
    });
    config.onPrepare((change) => this.prepareClient(change));
  }

  /** Adds hooks called per batch (never per message), e.g. for metrics. */
  observe(observer: ProducerObserver): void {
    this.observers.push(observer);
  }

  /** The producer's books (live: read, never write). */
  stats(): Readonly<DeliveryStats> {
    return this.producer.stats;
  }

  /** The circuit breaker's state. */
  circuit(): BreakerState {
    return this.producer.breaker.state;
  }

  /**
   * Whether every send is refused for good (3 in a row, none acknowledged since: e.g. not
   * authorized to write the topic): readiness is down meanwhile; with the last error.
   */
  delivery(): { failing: boolean; consecutiveRefusals: number; lastError?: string } {
    return {
      failing: this.producer.failing,
      consecutiveRefusals: this.producer.consecutiveRefusals,
      ...(this.producer.lastRefusal ? { lastError: this.producer.lastRefusal } : {}),
    };
  }

  /**
   * The partition a key with this FNV-1a hash goes to under the partition count of `topic`
   * (default: the configured one); -1 while that topic's count is not known yet.
   */
  partitionOf(hash: number, topic?: string): number {
    return this.current.partition(hash, topic);
  }

  /** The target topic as last read, and whether the client is connected. */
  topicInfo(): TopicInfo {
    return {
      topic: this.current.topic,
      partitions: this.current.partitionCount,
      connected: this.current.connected,
    };
  }

  /** Bytes the producer holds (queued and in flight). */
  get bufferedBytes(): number {
    return this.producer.bufferedBytes;
  }

  /** Sends everything queued now, ignoring linger; resolves when nothing is left. */
  flush(): Promise<void> {
    return this.producer.flush();
  }

  /** Resolves when nothing is queued or in flight. */
  idle(): Promise<void> {
    return this.producer.idle();
  }

  /** A sender of the configured engine (`kafka.client`); throws when a codec is missing. */
  private buildSender(c: FleetsimConfig): BatchSender {
    const options = {
      brokers: this.target.brokers.length ? this.target.brokers : ['127.0.0.1:9092'],
      clientId: c.kafka.clientId,
      topic: c.kafka.topic,
      topicPartitions: c.kafka.topicPartitions,
      topicReplicationFactor: c.kafka.topicReplicationFactor,
      requiredAcks: c.producer.requiredAcks,
      compression: c.producer.compression,
      idempotent: c.producer.idempotent,
      maxInFlightRequests: c.producer.maxInFlightRequests,
      metadataRefreshMs: c.kafka.metadataRefreshMs,
      security: this.security.build(c.kafka),
    };
    return createSender(c.kafka.client, options, {
      logger: new Logger('kafkajs'),
      onStale: (sender, reason) => this.renew(sender, reason),
    });
  }

  /** Runs a client swap after the ones before it. */
  private serialized(swap: () => Promise<void>): Promise<void> {
    const run = this.swaps.then(swap);
    this.swaps = run.catch(() => {});
    return run;
  }

  /**
   * Replaces a sender whose client cannot go on as it is (KafkaSender's `onStale`) with a fresh
   * one of the same settings, through the same hand-over as a configuration change.
   */
  private renew(stale: BatchSender, reason: string): void {
    void this.serialized(async () => {
      if (this.stopped || this.current !== stale) return;
      const next = this.buildSender(this.config.config);
      try {
        await next.connect();
      } catch (err) {
        await next.disconnect();
        this.logger.warn(`could not renew the Kafka client (${(err as Error).message})`);
        return;
      }
      if (this.stopped || this.current !== stale) return next.disconnect();
      await this.producer.setSender(next);
      this.current = next;
      this.logger.log(`renewed the Kafka client: ${reason}`);
      await stale.disconnect();
    });
  }

  /**
   * For a change of a setting baked into the Kafka client: connects a new client with the
   * new settings before anything changes (a failure refuses the change), and once the change
   * is applied hands the queue over to it (BatchingProducer.setSender) and closes the old one.
   */
  private async prepareClient({
    previous,
    next,
    changedPaths,
  }: ConfigChange): Promise<PreparedChange | undefined> {
    const changed = changedClientSettings(changedPaths);
    if (changed.length === 0) return undefined;
    await loadEngine(next.kafka.client);
    let sender: BatchSender;
    try {
      sender = this.buildSender(next);
    } catch (err) {
      throw new DomainError('INVALID_INPUT', (err as Error).message, [
        {
          field: 'producer.compression',
          rule: 'codecAvailable',
          message: (err as Error).message,
        },
      ]);
    }
    if (this.stopped) {
      await sender.disconnect();
      throw new DomainError('UNAVAILABLE', 'fleetsim is shutting down; nothing was changed');
    }
    // While the client in use cannot connect (e.g. a wrong password), a client with new
    // settings may replace it: the connection loop gives way once it is swapped in.
    if (!this.target.connect) {
      await sender.disconnect();
      throw new DomainError(
        'UNAVAILABLE',
        `${changed.join(', ')} can only change while the producer is connected to Kafka ` +
          '(see /health/ready); nothing was changed',
      );
    }
    try {
      await sender.connect();
    } catch (err) {
      await sender.disconnect();
      throw new DomainError(
        'UNAVAILABLE',
        `could not connect a Kafka client with the new settings (${describeConnectionError(err, next.kafka)}); nothing was changed`,
      );
    }
    return {
      abort: () => sender.disconnect(),
      commit: async () => {
        const swap = this.serialized(() => this.swapClient(sender, changed, previous));
        this.swapping = swap;
        try {
          await swap;
        } finally {
          if (this.swapping === swap) this.swapping = undefined;
        }
      },
    };
  }

  private async swapClient(
    next: BatchSender,
    changed: readonly string[],
    previous: FleetsimConfig,
  ): Promise<void> {
    // Shutdown began while the new client connected: it closes the client in use, not this one.
    if (this.stopped) return next.disconnect();
    const old = this.current;
    await this.producer.setSender(next);
    this.current = next;
    this.lastConnectError = undefined;
    this.logger.log(
      `new Kafka client in use for ${changed.map((p) => `${p}=${JSON.stringify(getPath(this.config.config, p))}`).join(', ')}; ` +
        `the previous one (${changed.map((p) => `${p}=${JSON.stringify(getPath(previous, p))}`).join(', ')}) has been drained`,
    );
    await old.disconnect();
  }

  onApplicationBootstrap(): void {
    if (!this.target.connect) return;
    this.connecting = this.connectUntilUp();
  }

  /** Resolves once connected (for tests and start-up ordering). */
  async ready(): Promise<void> {
    await this.connecting;
  }

  /**
   * Connects the client in use, retrying every 2 s. A configuration change may swap in a
   * client that connected with new settings meanwhile (prepareClient): the loop then stops.
   */
  private async connectUntilUp(): Promise<void> {
    const c = this.config.config;
    this.logger.log(`Kafka connection security: ${describeSecurity(this.security.build(c.kafka))}`);
    if (c.kafka.sasl.mechanism === 'plain' && !c.kafka.tls.enabled) {
      this.logger.warn(
        'SASL PLAIN without TLS sends the password in clear text: set KAFKA_TLS_ENABLED=true',
      );
    }
    while (!this.stopped && !this.current.connected) {
      const sender = this.current;
      try {
        await sender.connect();
        if (this.current !== sender) {
          await sender.disconnect();
          continue;
        }
        this.lastConnectError = undefined;
        this.logger.log(
          `connected to ${this.target.brokers.join(',')}; topic ${sender.topic} has ${sender.partitionCount} partitions`,
        );
        return;
      } catch (err) {
        await sender.disconnect();
        if (this.current !== sender) continue;
        this.lastConnectError = describeConnectionError(err, this.config.config.kafka);
        this.logger.warn(`cannot connect to Kafka (${this.lastConnectError}); retrying`);
        await new Promise((r) => setTimeout(r, 2000));
      }
    }
  }

  offer(record: OutgoingRecord): boolean {
    return this.producer.offer(record);
  }

  get accepting(): boolean {
    return this.producer.accepting;
  }

  /** Whether the broker answers now. */
  async reachable(): Promise<boolean> {
    return this.current.connected && (await this.current.ping());
  }

  status() {
    const c = this.config.config;
    return {
      topic: this.current.topic,
      partitions: this.current.partitionCount,
      connected: this.current.connected,
      circuit: this.producer.breaker.state,
      bufferedBytes: this.producer.bufferedBytes,
      bufferMemory: c.producer.bufferMemory,
      backpressure: c.producer.backpressure,
      accepting: this.producer.accepting,
      consecutiveRefusals: this.producer.consecutiveRefusals,
      ...(this.lastConnectError && !this.current.connected
        ? { connectError: this.lastConnectError }
        : {}),
      ...this.producer.stats.snapshot(),
    };
  }

  async onApplicationShutdown(): Promise<void> {
    this.stopped = true;
    await this.connecting?.catch(() => {});
    await this.swapping?.catch(() => {});
    const { flushed, dropped, unknown } = await this.producer.close(
      this.config.config.producer.shutdownFlushMs,
    );
    // The last word on every message (docs/faults.md, "The books"): from here on the books
    // do not change; queued and inFlight are 0.
    const s = this.producer.stats;
    this.logger.log(
      `producer closed: flushed ${flushed} messages at shutdown, dropped ${dropped}, ` +
        `unknown ${unknown} (in flight at exit); totals generated=${s.generated} ` +
        `acknowledged=${s.acknowledged} sent=${s.sent} failed=${s.failed} ` +
        `dropped=${s.droppedTotal} unknown=${s.unknown} possibleDuplicates=${s.possibleDuplicates}`,
      {
        flushed,
        droppedAtShutdown: dropped,
        unknownAtShutdown: unknown,
        totals: {
          generated: s.generated,
          acknowledged: s.acknowledged,
          sent: s.sent,
          failed: s.failed,
          dropped: s.droppedTotal,
          queued: s.queued,
          inFlight: s.inFlight,
          unknown: s.unknown,
          possibleDuplicates: s.possibleDuplicates,
          balanced: s.balanced(),
        },
      },
    );
    await this.current.disconnect();
  }
}
