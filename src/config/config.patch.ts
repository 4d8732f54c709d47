import { getPath, leafPaths } from './config.loader.js';
import { isSecretPath, maskSecrets, SECRET_KEY, SECRET_MASK } from './secrets.js';

/**
 * The rules of runtime configuration changes, as plain functions: JSON merge patch (RFC 7396),
 * which settings differ, which cannot change while the server runs, and which are secret.
 */

type Plain = Record<string, unknown>;

const isPlain = (v: unknown): v is Plain =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Applies a JSON merge patch (RFC 7396): members of `patch` replace those of `target`,
 * objects merge recursively, `null` removes a member (for the configuration: back to its
 * built-in default), arrays are replaced whole. Neither argument is changed.
 */
export function applyMergePatch(target: unknown, patch: unknown): unknown {
  if (!isPlain(patch)) return patch;
  const out: Plain = isPlain(target) ? { ...target } : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete out[key];
    else out[key] = applyMergePatch(out[key], value);
  }
  return out;
}

/** Leaf paths ("producer.lingerMs") whose values differ between two plain configurations. */
export function changedPaths(before: Plain, after: Plain): string[] {
  const paths = new Set([...leafPaths(before), ...leafPaths(after)]);
  return [...paths]
    .filter((p) => JSON.stringify(getPath(before, p)) !== JSON.stringify(getPath(after, p)))
    .sort();
}

/** A setting that only takes effect at boot, and why. */
export interface ImmutableSetting {
  /** A leaf path, or a section whose every key is covered. */
  path: string;
  reason: string;
}

/**
 * Settings that cannot change while fleetsim runs. Everything else can: simulation settings
 * apply from the next tick, batching settings at once, and the settings baked into the Kafka
 * client (engine, topic, clientId, TLS and SASL, requiredAcks, compression, idempotent,
 * maxInFlightRequests) by
 * connecting a new client and handing the queue over to it.
 */
export const IMMUTABLE_SETTINGS: readonly ImmutableSetting[] = [
  { path: 'server.port', reason: 'the HTTP server listens on it since boot; set PORT and restart' },
  { path: 'server.host', reason: 'the HTTP server listens on it since boot; set HOST and restart' },
  {
    path: 'server.bodyLimitBytes',
    reason: 'the HTTP server is built with it at boot; change it in the file and restart',
  },
  {
    path: 'kafka.brokers',
    reason:
      'the cluster is chosen at boot (with none, the embedded broker); set KAFKA_BROKERS and restart',
  },
  {
    path: 'kafka.topicPartitions',
    reason:
      'it only sizes a topic fleetsim creates; add partitions with Kafka tools, fleetsim follows the count by itself',
  },
  {
    path: 'kafka.topicReplicationFactor',
    reason: 'it only applies when fleetsim creates a topic; change it in the file and restart',
  },
  {
    path: 'kafka.embedded',
    reason: 'the embedded broker is started with it at boot; change it and restart',
  },
  {
    path: 'simulation.autoStart',
    reason: 'it is only read at boot; use POST /api/v1/simulation/start or /stop',
  },
  {
    path: 'simulation.fleets',
    reason:
      'boot fleets are created once at start; use /api/v1/fleets to add, scale or delete fleets',
  },
];

/** The rule that makes `path` immutable, if any. */
export function immutableSetting(path: string): ImmutableSetting | undefined {
  return IMMUTABLE_SETTINGS.find((s) => path === s.path || path.startsWith(`${s.path}.`));
}

export { isSecretPath, maskSecrets, SECRET_KEY, SECRET_MASK } from './secrets.js';

/** A copy of a patch without the secret members that only repeat the mask. */
export function withoutMaskedSecrets(patch: unknown, secret = false): unknown {
  if (!isPlain(patch)) return patch;
  const out: Plain = {};
  for (const [key, value] of Object.entries(patch)) {
    const isSecret = secret || SECRET_KEY.test(key);
    if (isSecret && value === SECRET_MASK) continue;
    out[key] = withoutMaskedSecrets(value, isSecret);
  }
  return out;
}

/** A value as a change log shows it: masked when the path is secret. */
export function shownValue(path: string, value: unknown): unknown {
  return isSecretPath(path) ? maskSecrets(value, true) : value;
}
