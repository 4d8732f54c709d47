import {
  Injectable,
  Logger,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
} from '@nestjs/common';
import { ConfigService } from '../config/config.service.js';
import type { FleetsimConfig } from '../config/fleetsim.config.js';
import { KafkaTarget } from '../kafka/kafka-target.js';
import { kafkajsLogCreator } from '../kafka/kafkajs.logger.js';
import { FleetsimMetrics } from '../metrics/fleetsim.metrics.js';
import { BatchingProducer, type BatchingOptions } from './batching.producer.js';
import { KafkaSender } from './kafka.sender.js';
import type { OutgoingRecord } from './outgoing.record.js';

function batchingOptions(config: FleetsimConfig): BatchingOptions {
  const p = config.producer;
  return {
    batchSize: p.batchSize,
    batchBytes: p.batchBytes,
    lingerMs: p.lingerMs,
    bufferMemory: p.bufferMemory,
    // The idempotent producer keeps one request in flight so retries cannot reorder.
    maxInFlightRequests: p.idempotent ? 1 : p.maxInFlightRequests,
    maxRetries: p.maxRetries,
    retryBackoffMs: p.retryBackoffMs,
    backpressure: p.backpressure,
  };
}

/** Owns the Kafka connection and the batching producer; Nest's edge around them. */
@Injectable()
export class ProducerService implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('Producer');
  readonly sender: KafkaSender;
  readonly producer: BatchingProducer;
  private connecting?: Promise<void>;
  private stopped = false;
  lastConnectError?: string;

  constructor(
    private readonly config: ConfigService,
    private readonly target: KafkaTarget,
    metrics: FleetsimMetrics,
  ) {
    const c = config.config;
    this.sender = new KafkaSender({
      brokers: target.brokers.length ? target.brokers : ['127.0.0.1:9092'],
      clientId: c.kafka.clientId,
      topic: c.kafka.topic,
      topicPartitions: c.kafka.topicPartitions,
      topicReplicationFactor: c.kafka.topicReplicationFactor,
      requiredAcks: c.producer.requiredAcks,
      compression: c.producer.compression,
      idempotent: c.producer.idempotent,
      maxInFlightRequests: c.producer.maxInFlightRequests,
      metadataRefreshMs: c.kafka.metadataRefreshMs,
      logCreator: kafkajsLogCreator(new Logger('kafkajs')),
    });
    this.producer = new BatchingProducer(this.sender, batchingOptions(c), {
      batchAcknowledged: (messages, _bytes, ms) => {
        metrics.sendLatency.observe(ms / 1000);
        metrics.batchSize.observe(messages);
      },
      batchFailed: (_n, error, retriable) => {
        metrics.sendErrors.inc({ retriable: String(retriable) });
        this.logger.warn(
          `send failed (${retriable ? 'retriable' : 'not retriable'}): ${error.message}`,
        );
      },
      breakerChanged: (state) => this.logger.warn(`circuit breaker ${state}`),
    });
    metrics.watchProducer(() => ({
      stats: this.producer.stats,
      bufferedBytes: this.producer.bufferedBytes,
      breaker: this.producer.breaker.state,
      partitions: this.sender.partitionCount,
    }));
  }

  onApplicationBootstrap(): void {
    if (!this.target.connect) return;
    this.connecting = this.connectUntilUp();
  }

  /** Resolves once connected (for tests and start-up ordering). */
  async ready(): Promise<void> {
    await this.connecting;
  }

  private async connectUntilUp(): Promise<void> {
    while (!this.stopped) {
      try {
        await this.sender.connect();
        this.lastConnectError = undefined;
        this.logger.log(
          `connected to ${this.target.brokers.join(',')}; topic ${this.sender.topic} has ${this.sender.partitionCount} partitions`,
        );
        return;
      } catch (err) {
        this.lastConnectError = (err as Error).message;
        this.logger.warn(`cannot reach Kafka yet (${this.lastConnectError}); retrying`);
        await this.sender.disconnect();
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
    return this.sender.connected && (await this.sender.ping());
  }

  status() {
    const c = this.config.config;
    return {
      topic: this.sender.topic,
      partitions: this.sender.partitionCount,
      connected: this.sender.connected,
      circuit: this.producer.breaker.state,
      bufferedBytes: this.producer.bufferedBytes,
      bufferMemory: c.producer.bufferMemory,
      backpressure: c.producer.backpressure,
      accepting: this.producer.accepting,
      ...this.producer.stats.snapshot(),
    };
  }

  async onApplicationShutdown(): Promise<void> {
    this.stopped = true;
    await this.connecting?.catch(() => {});
    const { flushed, dropped } = await this.producer.close(
      this.config.config.producer.shutdownFlushMs,
    );
    const s = this.producer.stats;
    this.logger.log(
      `producer closed: flushed ${flushed} messages at shutdown, dropped ${dropped}; ` +
        `totals generated=${s.generated} acknowledged=${s.acknowledged} failed=${s.failed} dropped=${s.droppedTotal}`,
    );
    await this.sender.disconnect();
  }
}
