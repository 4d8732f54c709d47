import 'reflect-metadata';
import { Type } from 'class-transformer';
import {
  IsArray,
  IsBoolean,
  IsIn,
  IsInt,
  IsNumber,
  IsOptional,
  IsString,
  Matches,
  Max,
  Min,
  MinLength,
  ValidateNested,
} from 'class-validator';

/**
 * The value formats a reading can be serialized to: JSON (docs/reading.schema.json) or
 * Protobuf (fleetsim.v1.Reading in proto/reading.proto). docs/messages.md describes both.
 */
export const VALUE_FORMATS = ['json', 'protobuf'] as const;
export type ValueFormat = (typeof VALUE_FORMATS)[number];

export const COMPRESSIONS = ['none', 'gzip', 'snappy', 'lz4', 'zstd'] as const;
export type CompressionName = (typeof COMPRESSIONS)[number];

/** The Kafka clients fleetsim can produce with (docs/operations.md compares them). */
export const KAFKA_CLIENTS = ['platformatic', 'kafkajs'] as const;
export type KafkaClientName = (typeof KAFKA_CLIENTS)[number];

export const BACKPRESSURE_POLICIES = ['block', 'drop'] as const;
export type BackpressurePolicy = (typeof BACKPRESSURE_POLICIES)[number];

export const LOG_LEVELS = ['error', 'warn', 'info', 'debug'] as const;
export type LogLevelName = (typeof LOG_LEVELS)[number];

export class ServerConfig {
  /** HTTP port; 0 picks a free one. */
  @IsInt()
  @Min(0)
  @Max(65535)
  port = 3000;

  /** Interface to listen on. */
  @IsString()
  @MinLength(1)
  host = '0.0.0.0';

  /** Largest accepted request body, in bytes. */
  @IsInt()
  @Min(1024)
  @Max(16 * 1024 * 1024)
  bodyLimitBytes = 1024 * 1024;

  @IsIn(LOG_LEVELS)
  logLevel: LogLevelName = 'info';
}

export class EmbeddedKafkaConfig {
  /** Port of the embedded broker's client listener; 0 picks a free one. */
  @IsInt()
  @Min(0)
  @Max(65535)
  port = 9092;

  /** Java heap of the embedded broker, e.g. 512m or 1g. */
  @Matches(/^\d+[mMgG]$/, { message: 'heap must look like 512m or 1g' })
  heap = '768m';
}

export class KafkaConfig {
  /** Bootstrap servers; empty means "start the embedded broker". */
  @IsArray()
  @IsString({ each: true })
  @Matches(/^[^\s:]+:\d{1,5}$/, { each: true, message: 'each broker must be host:port' })
  brokers: string[] = [];

  @Matches(/^[a-zA-Z0-9._-]{1,249}$/, {
    message: 'topic must be 1-249 characters of letters, digits, ".", "_" or "-"',
  })
  topic = 'fleetsim.readings';

  @IsString()
  @MinLength(1)
  clientId = 'fleetsim';

  /**
   * The Kafka client that produces: platformatic (@platformatic/kafka, the default) or
   * kafkajs. Changing it at runtime connects the other client and hands the queue over.
   */
  @IsIn(KAFKA_CLIENTS)
  client: KafkaClientName = 'platformatic';

  /** Partitions of the topic when fleetsim has to create it. */
  @IsInt()
  @Min(1)
  @Max(10000)
  topicPartitions = 6;

  /** Replication factor of the topic when fleetsim has to create it (-1: broker default). */
  @IsInt()
  @Min(-1)
  @Max(32)
  topicReplicationFactor = -1;

  /** How often the topic's partition count is re-read, in ms. */
  @IsInt()
  @Min(500)
  @Max(600_000)
  metadataRefreshMs = 10_000;

  @ValidateNested()
  @Type(() => EmbeddedKafkaConfig)
  embedded = new EmbeddedKafkaConfig();
}

export class ProducerConfig {
  /** Most messages in one produce request. */
  @IsInt()
  @Min(1)
  @Max(1_000_000)
  batchSize = 1000;

  /** Most value bytes in one produce request. */
  @IsInt()
  @Min(1024)
  @Max(64 * 1024 * 1024)
  batchBytes = 1024 * 1024;

  /** Longest a message waits for its batch to fill, in ms. */
  @IsInt()
  @Min(0)
  @Max(60_000)
  lingerMs = 5;

  /** Bound on queued, unsent value bytes. */
  @IsInt()
  @Min(64 * 1024)
  @Max(4 * 1024 * 1024 * 1024)
  bufferMemory = 32 * 1024 * 1024;

  /** Produce requests in flight at once. */
  @IsInt()
  @Min(1)
  @Max(100)
  maxInFlightRequests = 5;

  @IsIn(COMPRESSIONS)
  compression: CompressionName = 'gzip';

  /** Retries of a failed produce request on retriable errors. */
  @IsInt()
  @Min(0)
  @Max(100)
  maxRetries = 5;

  /** First retry delay in ms (doubles on each retry). */
  @IsInt()
  @Min(1)
  @Max(60_000)
  retryBackoffMs = 100;

  /** -1 (all in-sync replicas), 0 (none) or 1 (leader). */
  @IsIn([-1, 0, 1])
  requiredAcks: -1 | 0 | 1 = -1;

  /** Idempotent producer: no duplicates on retry (forces acks=-1). */
  @IsBoolean()
  idempotent = false;

  /** What to do when the queue passes 80 % of bufferMemory. */
  @IsIn(BACKPRESSURE_POLICIES)
  backpressure: BackpressurePolicy = 'block';

  /** Format of message values: json or protobuf. */
  @IsIn(VALUE_FORMATS)
  valueFormat: ValueFormat = 'json';

  /** Longest the producer waits for queued messages at shutdown, in ms. */
  @IsInt()
  @Min(0)
  @Max(600_000)
  shutdownFlushMs = 15_000;
}

export class SimulationConfig {
  /** Start producing at boot. */
  @IsBoolean()
  autoStart = true;

  /** Scheduler tick in ms: how often due readings are generated. */
  @IsInt()
  @Min(1)
  @Max(1000)
  tickMs = 10;

  /** Scales every sensor's noise: 0 (flat) … 1 (the configured sd). */
  @IsNumber()
  @Min(0)
  @Max(1)
  dataVariation = 1;

  /** Chance that a reading starts a random anomaly. */
  @IsNumber()
  @Min(0)
  @Max(0.1)
  anomalyRate = 0;

  @IsBoolean()
  trendEnabled = true;

  @IsNumber()
  @Min(0)
  @Max(1)
  trendStrength = 0.5;

  /** Fleets created at boot. */
  @IsArray()
  @ValidateNested({ each: true })
  @Type(() => BootFleetConfig)
  fleets: BootFleetConfig[] = [];
}

export class BootFleetConfig {
  @IsString()
  @MinLength(1)
  name!: string;

  @IsInt()
  @Min(1)
  @Max(100_000)
  deviceCount!: number;

  @IsInt()
  @Min(100)
  @Max(3_600_000)
  intervalMs = 5000;

  @IsOptional()
  @IsInt()
  seed?: number;
}

export class FleetsimConfig {
  @ValidateNested()
  @Type(() => ServerConfig)
  server = new ServerConfig();

  @ValidateNested()
  @Type(() => KafkaConfig)
  kafka = new KafkaConfig();

  @ValidateNested()
  @Type(() => ProducerConfig)
  producer = new ProducerConfig();

  @ValidateNested()
  @Type(() => SimulationConfig)
  simulation = new SimulationConfig();
}
