import type { ConnectionOptions } from 'node:tls';
import type { SASLOptions as PlatformaticSasl } from '@platformatic/kafka';
import type { KafkaConfig as KafkajsConfig, SASLOptions as KafkajsSasl } from 'kafkajs';
import type { KafkaConfig, SaslMechanismName } from '../config/fleetsim.config.js';
import { OAuthTokenProvider } from './oauth-token.js';

/**
 * Kafka connection security (TLS and SASL) as both engines take it: one engine-neutral
 * description built from `kafka.tls` / `kafka.sasl`, turned into kafkajs's `ssl`/`sasl` or
 * @platformatic/kafka's `tls`/`sasl` options, and the wording of connection errors
 * (authentication failed for user X, certificate verify failed) with no secret in them.
 * docs/kafka-security.md is the user's guide.
 */

export interface KafkaSasl {
  mechanism: Exclude<SaslMechanismName, 'none'>;
  username?: string;
  password?: string;
  /** OAUTHBEARER: fetches and caches the token. */
  oauth?: OAuthTokenProvider;
  /** OAUTHBEARER: the OAuth client, for messages. */
  oauthClientId?: string;
}

export interface KafkaSecurity {
  /** Node TLS options; undefined for a plaintext connection. */
  tls?: ConnectionOptions;
  sasl?: KafkaSasl;
}

/**
 * Builds the security settings of Kafka clients from the configuration. The OAuth token
 * provider is kept while its settings stay the same, so that swapped clients share the token.
 */
export class KafkaSecurityFactory {
  private oauthKey?: string;
  private oauth?: OAuthTokenProvider;

  build(kafka: Pick<KafkaConfig, 'tls' | 'sasl'>): KafkaSecurity {
    const { tls, sasl } = kafka;
    const security: KafkaSecurity = {};
    if (tls.enabled) {
      security.tls = {
        rejectUnauthorized: tls.rejectUnauthorized,
        ...(tls.ca ? { ca: [tls.ca] } : {}),
        ...(tls.cert ? { cert: tls.cert } : {}),
        ...(tls.key ? { key: tls.key } : {}),
        ...(tls.servername ? { servername: tls.servername } : {}),
      };
    }
    if (sasl.mechanism === 'oauthbearer') {
      const settings = {
        tokenUrl: sasl.tokenUrl!,
        clientId: sasl.clientId!,
        clientSecret: sasl.clientSecret!,
        scope: sasl.scope,
      };
      const key = JSON.stringify(settings);
      if (key !== this.oauthKey || !this.oauth) {
        this.oauth = new OAuthTokenProvider(settings);
        this.oauthKey = key;
      }
      security.sasl = { mechanism: 'oauthbearer', oauth: this.oauth, oauthClientId: sasl.clientId };
    } else if (sasl.mechanism !== 'none') {
      security.sasl = {
        mechanism: sasl.mechanism,
        username: sasl.username,
        password: sasl.password,
      };
    }
    return security;
  }
}

/** kafkajs's `ssl` and `sasl` options (OAUTHBEARER through `oauthBearerProvider`). */
export function kafkajsSecurityOptions(
  security: KafkaSecurity | undefined,
): Pick<KafkajsConfig, 'ssl' | 'sasl'> {
  const out: Pick<KafkajsConfig, 'ssl' | 'sasl'> = {};
  if (security?.tls) out.ssl = security.tls;
  const sasl = security?.sasl;
  if (sasl?.mechanism === 'oauthbearer') {
    const oauth = sasl.oauth!;
    out.sasl = {
      mechanism: 'oauthbearer',
      oauthBearerProvider: async () => ({ value: (await oauth.token()).value }),
    };
  } else if (sasl) {
    out.sasl = {
      mechanism: sasl.mechanism,
      username: sasl.username!,
      password: sasl.password!,
    } as KafkajsSasl;
  }
  return out;
}

const PLATFORMATIC_MECHANISMS = {
  plain: 'PLAIN',
  'scram-sha-256': 'SCRAM-SHA-256',
  'scram-sha-512': 'SCRAM-SHA-512',
  oauthbearer: 'OAUTHBEARER',
} as const;

/** @platformatic/kafka's `tls` and `sasl` options (OAUTHBEARER through a `token` function). */
export function platformaticSecurityOptions(security: KafkaSecurity | undefined): {
  tls?: ConnectionOptions;
  sasl?: PlatformaticSasl;
} {
  const out: { tls?: ConnectionOptions; sasl?: PlatformaticSasl } = {};
  if (security?.tls) out.tls = security.tls;
  const sasl = security?.sasl;
  if (sasl?.mechanism === 'oauthbearer') {
    const oauth = sasl.oauth!;
    out.sasl = { mechanism: 'OAUTHBEARER', token: async () => (await oauth.token()).value };
  } else if (sasl) {
    out.sasl = {
      mechanism: PLATFORMATIC_MECHANISMS[sasl.mechanism],
      username: sasl.username,
      password: sasl.password,
    };
  }
  return out;
}

/** A one-line description of the security in use, for logs (no secret). */
export function describeSecurity(security: KafkaSecurity | undefined): string {
  const tls = security?.tls
    ? `TLS${security.tls.rejectUnauthorized === false ? ' (certificate not verified)' : ''}${security.tls.cert ? ' with a client certificate' : ''}`
    : 'no TLS';
  const sasl = security?.sasl;
  if (!sasl) return `${tls}, no SASL`;
  const who =
    sasl.mechanism === 'oauthbearer'
      ? `OAuth client ${sasl.oauthClientId}`
      : `user ${sasl.username}`;
  return `${tls}, SASL ${sasl.mechanism.toUpperCase()} as ${who}`;
}

interface ErrorLike {
  name?: string;
  message?: string;
  code?: string;
  type?: string;
  apiId?: string;
  cause?: unknown;
  originalError?: unknown;
  errors?: unknown[];
}

/** Every error in a chain of wrappers (cause, kafkajs's originalError, aggregated errors). */
function chain(err: unknown): ErrorLike[] {
  const out: ErrorLike[] = [];
  const visit = (e: unknown, depth: number) => {
    if (!e || typeof e !== 'object' || depth > 10 || out.includes(e as ErrorLike)) return;
    const le = e as ErrorLike;
    out.push(le);
    visit(le.cause, depth + 1);
    visit(le.originalError, depth + 1);
    for (const inner of le.errors ?? []) visit(inner, depth + 1);
  };
  visit(err, 0);
  return out;
}

/** Node's codes for a certificate the client does not trust or that does not match. */
const CERT_CODES =
  /CERT|UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER|SELF_SIGNED|ERR_TLS_CERT_ALTNAME_INVALID|HOSTNAME_MISMATCH/;

/** What went wrong with a connection's security, if that is what failed. */
export type SecurityFailure = 'authentication' | 'certificate' | 'tls' | 'oauth';

/**
 * Classifies a connection error: a refused SASL authentication, a broker certificate that is
 * not trusted (or does not match the server name), another TLS failure, or a failed OAuth token
 * request; undefined for anything else (e.g. a broker that is down).
 */
export function securityFailure(err: unknown): SecurityFailure | undefined {
  const errors = chain(err);
  if (errors.some((e) => e.name === 'OAuthTokenError')) return 'oauth';
  if (
    errors.some(
      (e) =>
        e.name === 'KafkaJSSASLAuthenticationError' ||
        e.name === 'AuthenticationError' ||
        e.apiId === 'SASL_AUTHENTICATION_FAILED' ||
        e.type === 'SASL_AUTHENTICATION_FAILED' ||
        e.code === 'PLT_KFK_AUTHENTICATION' ||
        /authentication failed|Authentication failed/i.test(e.message ?? ''),
    )
  ) {
    return 'authentication';
  }
  if (
    errors.some(
      (e) =>
        CERT_CODES.test(e.code ?? '') ||
        /certificate|self[- ]signed|altnames/i.test(e.message ?? ''),
    )
  ) {
    return 'certificate';
  }
  if (
    errors.some(
      (e) => /^ERR_SSL|^ERR_TLS|EPROTO/.test(e.code ?? '') || /SSL|TLS/.test(e.message ?? ''),
    )
  ) {
    return 'tls';
  }
  return undefined;
}

/** Replaces every secret's text in a message by ********. */
export function redact(text: string, secrets: Array<string | undefined>): string {
  let out = text;
  for (const s of secrets) if (s && s.length >= 3) out = out.split(s).join('********');
  return out;
}

/**
 * A connection error as operators should read it: the cause first (authentication failed for
 * user X with MECHANISM, certificate verify failed, …) and what to check, then the client's
 * own words (innermost cause), never a secret. Other errors keep their message.
 */
export function describeConnectionError(
  err: unknown,
  kafka: Pick<KafkaConfig, 'tls' | 'sasl'>,
): string {
  const errors = chain(err);
  const words = [...new Set(errors.map((e) => e.message).filter((m): m is string => !!m))];
  const detail = words.slice(-2).join(': ');
  const secrets = [kafka.sasl.password, kafka.sasl.clientSecret, kafka.tls.key];
  const failure = securityFailure(err);
  const sasl = kafka.sasl;
  let text: string;
  switch (failure) {
    case 'authentication':
      text =
        sasl.mechanism === 'none'
          ? `SASL authentication failed (kafka.sasl.mechanism is none: the broker may require SASL; set KAFKA_SASL_MECHANISM): ${detail}`
          : `SASL authentication failed for ${
              sasl.mechanism === 'oauthbearer'
                ? `OAuth client ${sasl.clientId}`
                : `user ${sasl.username}`
            } (${sasl.mechanism.toUpperCase()}): check kafka.sasl (KAFKA_SASL_USERNAME, KAFKA_SASL_PASSWORD or KAFKA_SASL_PASSWORD_FILE): ${detail}`;
      break;
    case 'certificate':
      text = `TLS certificate verify failed: the broker's certificate is not trusted or does not match its name; check kafka.tls.ca (KAFKA_TLS_CA or KAFKA_TLS_CA_FILE) and kafka.tls.servername (KAFKA_TLS_SERVERNAME): ${detail}`;
      break;
    case 'tls':
      text = `TLS handshake failed${kafka.tls.enabled ? '' : ' (kafka.tls.enabled is false: the listener may expect TLS; set KAFKA_TLS_ENABLED=true)'}: ${detail}`;
      break;
    case 'oauth':
      text = `OAUTHBEARER token could not be obtained: ${detail}`;
      break;
    default:
      text = (err as Error)?.message ?? String(err);
      if (detail && !text.includes(detail)) text = `${text}: ${detail}`;
  }
  return redact(text, secrets);
}
