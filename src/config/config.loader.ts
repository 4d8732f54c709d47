import { readFileSync } from 'node:fs';
import { plainToInstance } from 'class-transformer';
import { validateSync, type ValidationError } from 'class-validator';
import { parse as parseYaml } from 'yaml';
import { ApiKeys, loadApiKeys } from './api-keys.js';
import { asValidationErrors, limitProblems } from './config.limits.js';
import { FleetsimConfig } from './fleetsim.config.js';
import { applyMergePatch, isPlain, leafPaths, type Plain, setPath } from './plain.js';
import { isSecretPath, SECRET_MASK } from './secrets.js';

/** Where an effective setting came from. */
export type ConfigSource = 'default' | 'file' | 'env' | 'api';

type EnvKind = 'int' | 'number' | 'boolean' | 'string' | 'list' | 'acks' | 'secret';

/**
 * Environment variables and the setting each one sets. With `file`, NAME_FILE may name a file
 * holding the value instead (as Kubernetes and Docker mount secrets); kind `secret` is taken
 * as is (not trimmed) and never shown.
 */
export const ENV_VARIABLES: ReadonlyArray<{
  name: string;
  path: string;
  kind: EnvKind;
  file?: boolean;
}> = [
  { name: 'PORT', path: 'server.port', kind: 'int' },
  { name: 'HOST', path: 'server.host', kind: 'string' },
  { name: 'LOG_LEVEL', path: 'server.logLevel', kind: 'string' },
  { name: 'KAFKA_BROKERS', path: 'kafka.brokers', kind: 'list' },
  { name: 'KAFKA_TOPIC', path: 'kafka.topic', kind: 'string' },
  { name: 'KAFKA_CLIENT_ID', path: 'kafka.clientId', kind: 'string' },
  { name: 'KAFKA_CLIENT', path: 'kafka.client', kind: 'string' },
  { name: 'KAFKA_LABEL_TOPIC', path: 'kafka.labelTopic', kind: 'string' },
  { name: 'KAFKA_TOPIC_PARTITIONS', path: 'kafka.topicPartitions', kind: 'int' },
  { name: 'KAFKA_METADATA_REFRESH_MS', path: 'kafka.metadataRefreshMs', kind: 'int' },
  { name: 'SCHEMA_REGISTRY_URL', path: 'kafka.schemaRegistry.url', kind: 'string' },
  {
    name: 'SCHEMA_REGISTRY_START_WAIT_MS',
    path: 'kafka.schemaRegistry.startWaitMs',
    kind: 'int',
  },
  // Kafka connection security (docs/kafka-security.md)
  { name: 'KAFKA_TLS_ENABLED', path: 'kafka.tls.enabled', kind: 'boolean' },
  { name: 'KAFKA_TLS_CA', path: 'kafka.tls.ca', kind: 'string', file: true },
  { name: 'KAFKA_TLS_CERT', path: 'kafka.tls.cert', kind: 'string', file: true },
  { name: 'KAFKA_TLS_KEY', path: 'kafka.tls.key', kind: 'secret', file: true },
  { name: 'KAFKA_TLS_SERVERNAME', path: 'kafka.tls.servername', kind: 'string' },
  { name: 'KAFKA_TLS_REJECT_UNAUTHORIZED', path: 'kafka.tls.rejectUnauthorized', kind: 'boolean' },
  { name: 'KAFKA_SASL_MECHANISM', path: 'kafka.sasl.mechanism', kind: 'string' },
  { name: 'KAFKA_SASL_USERNAME', path: 'kafka.sasl.username', kind: 'string', file: true },
  { name: 'KAFKA_SASL_PASSWORD', path: 'kafka.sasl.password', kind: 'secret', file: true },
  { name: 'KAFKA_SASL_OAUTH_TOKEN_URL', path: 'kafka.sasl.tokenUrl', kind: 'string' },
  { name: 'KAFKA_SASL_OAUTH_CLIENT_ID', path: 'kafka.sasl.clientId', kind: 'string' },
  {
    name: 'KAFKA_SASL_OAUTH_CLIENT_SECRET',
    path: 'kafka.sasl.clientSecret',
    kind: 'secret',
    file: true,
  },
  { name: 'KAFKA_SASL_OAUTH_SCOPE', path: 'kafka.sasl.scope', kind: 'string' },
  { name: 'KAFKA_EMBEDDED_PORT', path: 'kafka.embedded.port', kind: 'int' },
  { name: 'KAFKA_EMBEDDED_HEAP', path: 'kafka.embedded.heap', kind: 'string' },
  { name: 'KAFKA_BATCH_SIZE', path: 'producer.batchSize', kind: 'int' },
  { name: 'KAFKA_BATCH_BYTES', path: 'producer.batchBytes', kind: 'int' },
  { name: 'KAFKA_LINGER_MS', path: 'producer.lingerMs', kind: 'int' },
  { name: 'KAFKA_BUFFER_MEMORY', path: 'producer.bufferMemory', kind: 'int' },
  { name: 'KAFKA_MAX_IN_FLIGHT', path: 'producer.maxInFlightRequests', kind: 'int' },
  { name: 'KAFKA_COMPRESSION', path: 'producer.compression', kind: 'string' },
  { name: 'KAFKA_MAX_RETRIES', path: 'producer.maxRetries', kind: 'int' },
  { name: 'KAFKA_RETRY_BACKOFF_MS', path: 'producer.retryBackoffMs', kind: 'int' },
  { name: 'KAFKA_RETRY_BACKOFF_MAX_MS', path: 'producer.retryBackoffMaxMs', kind: 'int' },
  { name: 'KAFKA_DELIVERY_TIMEOUT_MS', path: 'producer.deliveryTimeoutMs', kind: 'int' },
  { name: 'KAFKA_ACKS', path: 'producer.requiredAcks', kind: 'acks' },
  { name: 'KAFKA_IDEMPOTENT', path: 'producer.idempotent', kind: 'boolean' },
  { name: 'FLEETSIM_BACKPRESSURE', path: 'producer.backpressure', kind: 'string' },
  { name: 'FLEETSIM_VALUE_FORMAT', path: 'producer.valueFormat', kind: 'string' },
  { name: 'FLEETSIM_HEADERS', path: 'producer.headers', kind: 'boolean' },
  { name: 'FLEETSIM_AUTOSTART', path: 'simulation.autoStart', kind: 'boolean' },
  { name: 'FLEETSIM_TICK_MS', path: 'simulation.tickMs', kind: 'int' },
  { name: 'FLEETSIM_DATA_VARIATION', path: 'simulation.dataVariation', kind: 'number' },
  { name: 'FLEETSIM_ANOMALY_RATE', path: 'simulation.anomalyRate', kind: 'number' },
  { name: 'FLEETSIM_TREND_ENABLED', path: 'simulation.trendEnabled', kind: 'boolean' },
  { name: 'FLEETSIM_TREND_STRENGTH', path: 'simulation.trendStrength', kind: 'number' },
  { name: 'FLEETSIM_CLUSTER', path: 'cluster.enabled', kind: 'boolean' },
  { name: 'FLEETSIM_CLUSTER_NAME', path: 'cluster.name', kind: 'string' },
  { name: 'FLEETSIM_CLUSTER_SESSION_TIMEOUT_MS', path: 'cluster.sessionTimeoutMs', kind: 'int' },
  { name: 'FLEETSIM_AUTH_HEALTH', path: 'server.auth.healthRequiresKey', kind: 'boolean' },
  { name: 'FLEETSIM_AUTH_METRICS', path: 'server.auth.metricsRequiresKey', kind: 'boolean' },
  { name: 'FLEETSIM_CORS_ORIGINS', path: 'server.cors.origins', kind: 'list' },
  { name: 'FLEETSIM_RATE_LIMIT_MAX', path: 'server.rateLimit.max', kind: 'int' },
  { name: 'FLEETSIM_RATE_LIMIT_WINDOW_MS', path: 'server.rateLimit.windowMs', kind: 'int' },
  { name: 'FLEETSIM_REQUIRE_IF_MATCH', path: 'server.requireIfMatch', kind: 'boolean' },
  { name: 'FLEETSIM_SHUTDOWN_GRACE_MS', path: 'server.shutdownGraceMs', kind: 'int' },
  { name: 'FLEETSIM_MAX_DEVICES', path: 'limits.maxDevices', kind: 'int' },
  { name: 'FLEETSIM_MAX_TARGET_RATE', path: 'limits.maxTargetRate', kind: 'int' },
  { name: 'FLEETSIM_MAX_ANOMALY_DEVICES', path: 'limits.maxAnomalyDevices', kind: 'int' },
  { name: 'FLEETSIM_MAX_BATCH_SIZE', path: 'limits.maxBatchSize', kind: 'int' },
  { name: 'FLEETSIM_BUFFER_MEMORY_FRACTION', path: 'limits.bufferMemoryFraction', kind: 'number' },
];

/** A configuration that failed validation; the message names key, value, origin and rule. */
export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n  - ${problems.join('\n  - ')}`);
    this.name = 'ConfigError';
  }
}

export interface LoadedConfig {
  config: FleetsimConfig;
  sources: Map<string, ConfigSource>;
  file?: string;
  /** The API keys (FLEETSIM_API_KEYS, FLEETSIM_API_KEYS_FILE); none means loopback-only changes. */
  apiKeys?: ApiKeys;
}

function parseEnv(name: string, kind: EnvKind, raw: string, problems: string[]): unknown {
  const text = raw.trim();
  switch (kind) {
    case 'string':
      return text;
    case 'secret':
      return raw;
    case 'list':
      return text === '' ? [] : text.split(',').map((s) => s.trim());
    case 'int':
    case 'acks': {
      if (!/^-?\d+$/.test(text)) {
        problems.push(`${name}="${raw}": must be an integer`);
        return undefined;
      }
      return Number(text);
    }
    case 'number': {
      const n = Number(text);
      if (text === '' || !Number.isFinite(n)) {
        problems.push(`${name}="${raw}": must be a number`);
        return undefined;
      }
      return n;
    }
    case 'boolean': {
      if (/^(true|1|yes|on)$/i.test(text)) return true;
      if (/^(false|0|no|off)$/i.test(text)) return false;
      problems.push(`${name}="${raw}": must be true or false`);
      return undefined;
    }
  }
}

function flattenErrors(
  errors: ValidationError[],
  prefix = '',
): Array<{ path: string; value: unknown; rules: string[] }> {
  return errors.flatMap((e) => {
    const path = `${prefix}${e.property}`;
    const own = e.constraints
      ? [{ path, value: e.value, rules: Object.values(e.constraints) }]
      : [];
    return [...own, ...flattenErrors(e.children ?? [], `${path}.`)];
  });
}

/**
 * Validates a plain configuration object as a whole. Returns the typed config or the
 * list of problems, each naming the key, its value, where it came from and the rule (and
 * class-validator's errors, for callers that report field and rule separately).
 */
export function validateConfig(
  plain: Plain,
  describeSource: (path: string) => string = () => '',
): { config: FleetsimConfig; problems: string[]; errors: ValidationError[] } {
  const config = plainToInstance(FleetsimConfig, plain, { exposeDefaultValues: true });
  let errors = validateSync(config, { whitelist: true, forbidNonWhitelisted: true });
  // The rules between settings only make sense once every setting is valid on its own.
  if (errors.length === 0) errors = asValidationErrors(limitProblems(config));
  const problems = flattenErrors(errors).map(({ path, value, rules }) => {
    const shown = rules.some((r) => r.includes('should not exist'))
      ? `${path}: unknown key`
      : `${path} = ${isSecretPath(path) && value != null ? JSON.stringify(SECRET_MASK) : JSON.stringify(value)}${describeSource(path)}: ${rules.join('; ')}`;
    return shown;
  });
  return { config, problems, errors };
}

/** Loads defaults ← YAML file (FLEETSIM_CONFIG) ← environment, and validates the result. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): LoadedConfig {
  const problems: string[] = [];
  const sources = new Map<string, ConfigSource>();
  const defaults = JSON.parse(JSON.stringify(new FleetsimConfig())) as Plain;
  for (const path of leafPaths(defaults)) sources.set(path, 'default');

  let merged: Plain = defaults;
  const file = env.FLEETSIM_CONFIG?.trim() || undefined;
  if (file) {
    let parsed: unknown;
    try {
      parsed = parseYaml(readFileSync(file, 'utf8'));
    } catch (err) {
      throw new ConfigError([`FLEETSIM_CONFIG=${file}: ${(err as Error).message}`]);
    }
    if (parsed != null && !isPlain(parsed)) {
      throw new ConfigError([`FLEETSIM_CONFIG=${file}: the file must hold a YAML mapping`]);
    }
    if (parsed) {
      merged = applyMergePatch(merged, parsed, 'keep') as Plain;
      for (const path of leafPaths(parsed)) sources.set(path, 'file');
    }
  }

  const envNames = new Map<string, string>();
  for (const { name, path, kind, file: fromFile } of ENV_VARIABLES) {
    let raw = env[name];
    let shownName = name;
    const fileName = fromFile ? env[`${name}_FILE`]?.trim() || undefined : undefined;
    if (fileName !== undefined) {
      if (raw !== undefined && raw.trim() !== '') {
        problems.push(`${name} and ${name}_FILE are both set: set only one of them`);
        continue;
      }
      try {
        // One trailing line break is the file's, not the value's (echo "pw" > file).
        raw = readFileSync(fileName, 'utf8').replace(/\r?\n$/, '');
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
        problems.push(`${name}_FILE=${fileName}: cannot read the file (${code})`);
        continue;
      }
      if (raw.trim() === '') {
        problems.push(`${name}_FILE=${fileName}: the file is empty`);
        continue;
      }
      shownName = `${name}_FILE`;
    }
    if (raw === undefined || (raw.trim() === '' && kind !== 'list')) continue;
    const value = parseEnv(shownName, kind, raw, problems);
    if (value === undefined) continue;
    setPath(merged, path, value);
    sources.set(path, 'env');
    envNames.set(path, shownName);
  }
  const apiKeys = loadApiKeys(env, problems);
  if (problems.length) throw new ConfigError(problems);

  const describe = (path: string): string => {
    const envName = [...envNames.entries()].find(
      ([p]) => path === p || path.startsWith(`${p}.`),
    )?.[1];
    if (envName) return ` (from env ${envName})`;
    return sources.get(path) === 'file' ? ` (from ${file})` : '';
  };
  const result = validateConfig(merged, describe);
  if (result.problems.length) throw new ConfigError(result.problems);
  return { config: result.config, sources, file, apiKeys };
}
