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
  ValidateBy,
  ValidateIf,
  ValidateNested,
} from 'class-validator';
import { FleetSpecDto } from './fleet-spec.dto.js';

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

/** Which open routes need an API key too (when keys are configured); docs/security.md. */
export class AuthConfig {
  /** Require a key (read or operate) for /health/live and /health/ready. */
  @IsBoolean()
  healthRequiresKey = false;

  /** Require a key (read or operate) for /metrics. */
  @IsBoolean()
  metricsRequiresKey = false;
}

/** Cross-origin requests from browsers: off unless origins are listed. */
export class CorsConfig {
  /** Origins allowed to call the API from a browser, e.g. https://ops.example.com; none by default. */
  @IsArray()
  @Matches(/^https?:\/\/[^\s/?#]+$/, {
    each: true,
    message: 'each origin must look like https://host or http://host:port',
  })
  origins: string[] = [];
}

/** Requests per client (API key, or address without one) on the control plane. */
export class RateLimitConfig {
  /** Most requests of one client in a window; /health and /metrics do not count. */
  @IsInt()
  @Min(1)
  @Max(1_000_000)
  max = 100;

  /** Length of the window, in ms. */
  @IsInt()
  @Min(100)
  @Max(3_600_000)
  windowMs = 1000;
}

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

  @ValidateNested()
  @Type(() => AuthConfig)
  auth = new AuthConfig();

  @ValidateNested()
  @Type(() => CorsConfig)
  cors = new CorsConfig();

  @ValidateNested()
  @Type(() => RateLimitConfig)
  rateLimit = new RateLimitConfig();

  /** PATCH needs an If-Match header (428 without one), so no change is made on a stale read. */
  @IsBoolean()
  requireIfMatch = false;

  /**
   * How long the deployment waits after SIGTERM before it kills the process, in ms (Kubernetes'
   * terminationGracePeriodSeconds, Compose's stop_grace_period); producer.shutdownFlushMs must
   * leave 5 s of it for the rest of the shutdown.
   */
  @IsInt()
  @Min(1000)
  @Max(3_600_000)
  shutdownGraceMs = 30_000;
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

// ---- Kafka connection security (issue 11; docs/kafka-security.md) ----

/** SASL mechanisms fleetsim can authenticate with; `none` turns SASL off. */
export const SASL_MECHANISMS = [
  'none',
  'plain',
  'scram-sha-256',
  'scram-sha-512',
  'oauthbearer',
] as const;
export type SaslMechanismName = (typeof SASL_MECHANISMS)[number];

const PEM = /-----BEGIN [A-Z0-9 ]+-----[\s\S]+-----END [A-Z0-9 ]+-----/;
const pemMessage = (what: string, env: string) =>
  `${what} must be PEM text (-----BEGIN …-----); set ${env} to the PEM or ${env}_FILE to a PEM file`;

/** TLS to the brokers. With `enabled` and nothing else, the system's trusted CAs are used. */
export class KafkaTlsConfig {
  /** Connect with TLS (SSL or SASL_SSL listeners). */
  @IsBoolean()
  @ValidateBy({
    name: 'enabledWithMaterial',
    validator: {
      validate: (enabled: unknown, args) => {
        const o = args?.object as KafkaTlsConfig;
        return enabled === true || (o.ca ?? o.cert ?? o.key) === undefined;
      },
      defaultMessage: () =>
        'kafka.tls.enabled must be true when kafka.tls.ca, cert or key is set: set KAFKA_TLS_ENABLED=true',
    },
  })
  enabled = false;

  /** CA bundle (PEM) to trust instead of the system's CAs. */
  @IsOptional()
  @Matches(PEM, { message: pemMessage('kafka.tls.ca', 'KAFKA_TLS_CA') })
  ca?: string;

  /** Client certificate (PEM) for mutual TLS; needs `key`. */
  @ValidateIf((o: KafkaTlsConfig) => o.cert !== undefined || o.key !== undefined)
  @Matches(PEM, {
    message: `${pemMessage('kafka.tls.cert', 'KAFKA_TLS_CERT')} (kafka.tls.key and kafka.tls.cert go together)`,
  })
  cert?: string;

  /** Client private key (PEM, unencrypted) for mutual TLS; needs `cert`. Secret. */
  @ValidateIf((o: KafkaTlsConfig) => o.cert !== undefined || o.key !== undefined)
  @Matches(PEM, {
    message: `${pemMessage('kafka.tls.key', 'KAFKA_TLS_KEY')} (kafka.tls.key and kafka.tls.cert go together)`,
  })
  key?: string;

  /** Server name (SNI) to check the broker certificate against; default: the broker's host. */
  @IsOptional()
  @IsString()
  @MinLength(1)
  servername?: string;

  /** Verify the broker certificate. Turn off only against a test cluster. */
  @IsBoolean()
  rejectUnauthorized = true;
}

/**
 * Checked when the mechanism needs it (then it is required) or when it is given: a value is
 * always held to its own rules, as the OpenAPI schema of a config patch states them.
 */
const needs = (mechanisms: readonly SaslMechanismName[]) => (o: KafkaSaslConfig, value: unknown) =>
  mechanisms.includes(o.mechanism) || value !== undefined;
const USER_MECHANISMS = ['plain', 'scram-sha-256', 'scram-sha-512'] as const;
const required = (path: string, env: string, when: string) =>
  `${path} is required when kafka.sasl.mechanism is ${when}: set ${env} (or kafka.sasl.${path.split('.').pop()} in the file)`;

/** SASL authentication. The whole section is masked in GET /api/v1/config. */
export class KafkaSaslConfig {
  @IsIn(SASL_MECHANISMS)
  mechanism: SaslMechanismName = 'none';

  /** User of plain and scram-sha-*. */
  @ValidateIf(needs(USER_MECHANISMS))
  @IsString({ message: required('kafka.sasl.username', 'KAFKA_SASL_USERNAME', 'plain or scram-*') })
  @MinLength(1, {
    message: required('kafka.sasl.username', 'KAFKA_SASL_USERNAME', 'plain or scram-*'),
  })
  username?: string;

  /** Password of plain and scram-sha-*. Secret. */
  @ValidateIf(needs(USER_MECHANISMS))
  @IsString({
    message: required(
      'kafka.sasl.password',
      'KAFKA_SASL_PASSWORD or KAFKA_SASL_PASSWORD_FILE',
      'plain or scram-*',
    ),
  })
  @MinLength(1, {
    message: required(
      'kafka.sasl.password',
      'KAFKA_SASL_PASSWORD or KAFKA_SASL_PASSWORD_FILE',
      'plain or scram-*',
    ),
  })
  password?: string;

  /** OAUTHBEARER: the OAuth 2 token endpoint (client-credentials grant). */
  @ValidateIf(needs(['oauthbearer']))
  @Matches(/^https?:\/\/\S+$/, {
    message:
      required('kafka.sasl.tokenUrl', 'KAFKA_SASL_OAUTH_TOKEN_URL', 'oauthbearer') +
      ' (an http:// or https:// URL)',
  })
  tokenUrl?: string;

  /** OAUTHBEARER: the OAuth client id. */
  @ValidateIf(needs(['oauthbearer']))
  @IsString({
    message: required('kafka.sasl.clientId', 'KAFKA_SASL_OAUTH_CLIENT_ID', 'oauthbearer'),
  })
  @MinLength(1, {
    message: required('kafka.sasl.clientId', 'KAFKA_SASL_OAUTH_CLIENT_ID', 'oauthbearer'),
  })
  clientId?: string;

  /** OAUTHBEARER: the OAuth client secret. Secret. */
  @ValidateIf(needs(['oauthbearer']))
  @IsString({
    message: required(
      'kafka.sasl.clientSecret',
      'KAFKA_SASL_OAUTH_CLIENT_SECRET or KAFKA_SASL_OAUTH_CLIENT_SECRET_FILE',
      'oauthbearer',
    ),
  })
  @MinLength(1, {
    message: required(
      'kafka.sasl.clientSecret',
      'KAFKA_SASL_OAUTH_CLIENT_SECRET or KAFKA_SASL_OAUTH_CLIENT_SECRET_FILE',
      'oauthbearer',
    ),
  })
  clientSecret?: string;

  /** OAUTHBEARER: scope(s) to ask for, space-separated (optional). */
  @IsOptional()
  @IsString()
  scope?: string;
}

// ---- end of Kafka connection security ----

// ---- Schema Registry (docs/schema-registry.md) ----

/**
 * A Confluent-compatible Schema Registry: with a URL, fleetsim registers the schema of its
 * value format under the subject `<kafka.topic>-value` at start and writes every value in
 * Confluent's wire format (magic byte 0, the 4-byte schema id, for Protobuf the message
 * indexes, then the value). Empty: off, plain values.
 */
export class SchemaRegistryConfig {
  /**
   * Base URL of the Confluent API, e.g. http://registry:8080/apis/ccompat/v7 (Apicurio) or
   * http://schema-registry:8081 (Confluent); empty: off.
   */
  @Matches(/^(?:|https?:\/\/[^\s/?#]+(?:\/[^\s?#]*)?)$/, {
    message:
      'kafka.schemaRegistry.url must be empty (off) or an http:// or https:// URL without query or fragment',
  })
  url = '';

  /** How long fleetsim waits at start for an unreachable registry before giving up, in ms. */
  @IsInt()
  @Min(0)
  @Max(600_000)
  startWaitMs = 30_000;
}

// ---- end of Schema Registry ----

export class KafkaConfig {
  /** Bootstrap servers; empty means "start the embedded broker". */
  @IsArray()
  @IsString({ each: true })
  @Matches(/^[^\s:]+:\d{1,5}$/, { each: true, message: 'each broker must be host:port' })
  brokers: string[] = [];

  /**
   * Topic of the readings, or a template with `{fleetId}` (e.g. "fleetsim.{fleetId}") giving
   * every fleet a topic of its own, created on demand with topicPartitions partitions.
   */
  @Matches(/^(?:[a-zA-Z0-9._-]{1,249}|(?=.{1,180}$)(?:[a-zA-Z0-9._-]|\{fleetId\})+)$/, {
    message:
      'topic must be 1-249 characters of letters, digits, ".", "_" or "-"; a template with {fleetId} (one topic per fleet) at most 180',
  })
  @ValidateBy({
    name: 'schemaRegistrySubject',
    validator: {
      validate: (topic: unknown, args) =>
        typeof topic !== 'string' ||
        !topic.includes('{fleetId}') ||
        !(args?.object as KafkaConfig).schemaRegistry?.url,
      defaultMessage: () =>
        'kafka.schemaRegistry needs a plain kafka.topic (the subject is <topic>-value), not a {fleetId} template',
    },
  })
  topic = 'fleetsim.readings';

  /**
   * Topic of the anomaly lifecycle events (docs/messages.md, "Label topic"); empty: none.
   * Created on demand with topicPartitions partitions.
   */
  @Matches(/^[a-zA-Z0-9._-]{0,249}$/, {
    message:
      'labelTopic must be empty (no label topic) or 1-249 characters of letters, digits, ".", "_" or "-"',
  })
  labelTopic = '';

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

  /** TLS to the brokers (docs/kafka-security.md). */
  @ValidateNested()
  @Type(() => KafkaTlsConfig)
  tls = new KafkaTlsConfig();

  /** SASL authentication (docs/kafka-security.md). */
  @ValidateNested()
  @Type(() => KafkaSaslConfig)
  sasl = new KafkaSaslConfig();
  /** Confluent Schema Registry and wire format (docs/schema-registry.md); off by default. */
  @ValidateNested()
  @Type(() => SchemaRegistryConfig)
  schemaRegistry = new SchemaRegistryConfig();
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

  /** Bound on the memory of held records: key, value and header bytes plus 256 bytes each. */
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

  /**
   * First retry delay in ms; it doubles on each retry up to retryBackoffMaxMs, and every delay
   * is jittered by ±20 % (as Kafka's Java producer, retry.backoff.ms).
   */
  @IsInt()
  @Min(1)
  @Max(60_000)
  retryBackoffMs = 100;

  /** -1 (all in-sync replicas), 0 (none) or 1 (leader). */
  @IsIn([-1, 0, 1])
  requiredAcks: -1 | 0 | 1 = -1;

  /**
   * Idempotent producer: no duplicates on retry, order kept with up to 5 requests in flight
   * (forces acks=-1). On by default, as Kafka's Java producer since 3.0.
   */
  @IsBoolean()
  idempotent = true;

  /** What to do when the queue passes 80 % of bufferMemory. */
  @IsIn(BACKPRESSURE_POLICIES)
  backpressure: BackpressurePolicy = 'block';

  /** Format of message values: json or protobuf. */
  @IsIn(VALUE_FORMATS)
  valueFormat: ValueFormat = 'json';

  /**
   * Record headers on every reading: content-type, fleet-id, schema and, on a reading an
   * anomaly shaped, anomaly-kind (docs/messages.md).
   */
  @IsBoolean()
  headers = true;

  /** Longest the producer waits for queued messages at shutdown, in ms. */
  @IsInt()
  @Min(0)
  @Max(600_000)
  shutdownFlushMs = 15_000;

  /**
   * Longest delay between two tries of a failed send, in ms: the exponential backoff from
   * retryBackoffMs stops growing here (Java's retry.backoff.max.ms). At least retryBackoffMs.
   */
  @IsInt()
  @Min(1)
  @Max(600_000)
  retryBackoffMaxMs = 1000;

  /**
   * Longest a message may take from its first send attempt to its acknowledgement, in ms
   * (Java's delivery.timeout.ms): past it, a message still not written counts as failed
   * instead of being tried again.
   */
  @IsInt()
  @Min(1000)
  @Max(86_400_000)
  deliveryTimeoutMs = 120_000;
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

/** A fleet created at boot: the rules of POST /api/v1/fleets (FleetSpecDto). */
export class BootFleetConfig extends FleetSpecDto {
  override intervalMs? = 5000;
}

/** Scale-out: processes with the same cluster.name and brokers form one simulation. */
export class ClusterConfig {
  /**
   * Join the cluster (the default whenever fleetsim talks to Kafka): share fleets and config
   * through the control topic and produce only the devices of the partitions the group assigns
   * to this process. Off (FLEETSIM_CLUSTER=false): a standalone process that shares nothing.
   */
  @IsBoolean()
  enabled = true;

  /** Name of the cluster; the control topic, ownership topic and group derive from it. */
  @Matches(/^[a-zA-Z0-9._-]{1,200}$/, {
    message: 'name must be 1-200 characters of letters, digits, ".", "_" or "-"',
  })
  name = 'fleetsim';

  /** Group session timeout in ms: how long a crashed process keeps its partitions. */
  @IsInt()
  @Min(6000)
  @Max(300_000)
  sessionTimeoutMs = 10_000;

  /** Longest a new owner waits for the old owner's handover record, in ms. */
  @IsInt()
  @Min(100)
  @Max(60_000)
  handoverTimeoutMs = 5000;

  /** How often an owner records its position per partition (the restart point after a crash), in ms. */
  @IsInt()
  @Min(100)
  @Max(60_000)
  checkpointMs = 1000;
}

/**
 * Caps that keep one process safe whatever the API is asked for (docs/security.md). The
 * defaults fit the Helm chart's 2 GiB container; raise them with the memory.
 */
export class LimitsConfig {
  /** Most devices across all fleets (a device holds about 1.3 KB of heap). */
  @IsInt()
  @Min(1)
  @Max(10_000_000)
  maxDevices = 250_000;

  /** Most target readings per second across all fleets (the sum of deviceCount × 1000 / intervalMs). */
  @IsInt()
  @Min(1)
  @Max(10_000_000)
  maxTargetRate = 250_000;

  /** Most devices targeted by the injected anomalies that are scheduled or active at once. */
  @IsInt()
  @Min(1)
  @Max(10_000_000)
  maxAnomalyDevices = 500_000;

  /** Most messages in one produce request (producer.batchSize). */
  @IsInt()
  @Min(1)
  @Max(1_000_000)
  maxBatchSize = 100_000;

  /**
   * Largest share of the memory the process may use (the smaller of the V8 heap limit and the
   * container's memory limit) that producer.bufferMemory may take.
   */
  @IsNumber()
  @Min(0.01)
  @Max(0.9)
  bufferMemoryFraction = 0.5;
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

  @ValidateNested()
  @Type(() => ClusterConfig)
  cluster = new ClusterConfig();

  @ValidateNested()
  @Type(() => LimitsConfig)
  limits = new LimitsConfig();
}
