import { getPath, isPlain, leafPaths, type Plain } from './plain.js';
import { isSecretPath, maskSecrets, SECRET_KEY, SECRET_MASK } from './secrets.js';

/**
 * The rules of runtime configuration changes, as plain functions: JSON merge patch (RFC 7396),
 * which settings differ, which cannot change while the server runs, and which are secret.
 */

/** JSON merge patch (RFC 7396); `null` puts a setting back to its built-in default. */
export { applyMergePatch } from './plain.js';

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
 * Settings baked into the Kafka client: changing one at runtime means connecting a new client
 * with the new settings and handing the queue over to it. The one list of them.
 */
export const KAFKA_CLIENT_SETTINGS = [
  'kafka.client',
  'kafka.topic',
  'kafka.clientId',
  // Kafka connection security, as whole sections: a wrong password or CA can be fixed with PATCH.
  'kafka.tls',
  'kafka.sasl',
  'producer.requiredAcks',
  'producer.compression',
  'producer.idempotent',
  'producer.maxInFlightRequests',
] as const;

/** The client settings among changed leaf paths (a section covers the keys under it). */
export function changedClientSettings(changedPaths: readonly string[]): string[] {
  return KAFKA_CLIENT_SETTINGS.filter((s) =>
    changedPaths.some((p) => p === s || p.startsWith(`${s}.`)),
  );
}

/** The client settings as the docs name them: "topic, clientId, …". */
export const KAFKA_CLIENT_SETTING_NAMES = KAFKA_CLIENT_SETTINGS.map((p) =>
  p.slice(p.indexOf('.') + 1),
).join(', ');

/**
 * Settings that cannot change while fleetsim runs. Everything else can: simulation settings
 * apply from the next tick, batching settings at once, and the settings baked into the Kafka
 * client (KAFKA_CLIENT_SETTINGS) by connecting a new client and handing the queue over to it.
 */
export const IMMUTABLE_SETTINGS: readonly ImmutableSetting[] = [
  { path: 'server.port', reason: 'the HTTP server listens on it since boot; set PORT and restart' },
  { path: 'server.host', reason: 'the HTTP server listens on it since boot; set HOST and restart' },
  {
    path: 'server.bodyLimitBytes',
    reason: 'the HTTP server is built with it at boot; change it in the file and restart',
  },
  {
    path: 'server.auth',
    reason: 'who may call the API is set by whoever deploys fleetsim; change it and restart',
  },
  {
    path: 'server.cors',
    reason: 'who may call the API is set by whoever deploys fleetsim; change it and restart',
  },
  {
    path: 'server.rateLimit',
    reason: 'the rate limit is set up with the HTTP server at boot; change it and restart',
  },
  {
    path: 'server.requireIfMatch',
    reason: 'how the API guards changes is set by whoever deploys fleetsim; change it and restart',
  },
  {
    path: 'server.shutdownGraceMs',
    reason:
      "it describes the deployment's grace period; set FLEETSIM_SHUTDOWN_GRACE_MS and restart",
  },
  {
    path: 'limits',
    reason:
      'the limits protect the process from what the API is asked for; change them in the file or the environment and restart',
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
    path: 'kafka.schemaRegistry',
    reason:
      'the schema is registered and the wire format chosen at boot (docs/schema-registry.md); set SCHEMA_REGISTRY_URL and restart',
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
  {
    path: 'cluster.enabled',
    reason: 'a process joins its cluster at boot (docs/scale-out.md); change it and restart',
  },
  {
    path: 'cluster.name',
    reason: 'a process joins its cluster at boot (docs/scale-out.md); change it and restart',
  },
  {
    path: 'cluster.sessionTimeoutMs',
    reason: 'a process joins its cluster at boot (docs/scale-out.md); change it and restart',
  },
  {
    path: 'cluster.handoverTimeoutMs',
    reason: 'a process joins its cluster at boot (docs/scale-out.md); change it and restart',
  },
  {
    path: 'cluster.checkpointMs',
    reason: 'a process joins its cluster at boot (docs/scale-out.md); change it and restart',
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
