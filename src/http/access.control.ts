import rateLimit from '@fastify/rate-limit';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ApiKeyIdentity, ApiKeys } from '../config/api-keys.js';
import type { ServerConfig } from '../config/fleetsim.config.js';
import { isLoopbackAddress, isLoopbackHost } from './loopback.js';
import { PROBLEM_CONTENT_TYPE } from './problem.js';
import { problemOf } from './problem.filter.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The API key the request was made with, once access control has checked it. */
    apiKey?: ApiKeyIdentity;
  }
}

/** Methods that change something: they need an operate key, or a loopback client without keys. */
const MUTATING = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/** Headers a browser may send cross-origin, and read back, when its origin is allowed. */
const CORS_ALLOW_HEADERS = 'authorization, x-api-key, content-type, if-match, x-request-id';
const CORS_EXPOSE_HEADERS =
  'etag, location, retry-after, x-request-id, x-ratelimit-limit, x-ratelimit-remaining, x-ratelimit-reset';
const CORS_METHODS = 'GET, HEAD, POST, PATCH, DELETE';

const REALM = 'Bearer realm="fleetsim"';

/** Paths never rate limited: probes and scrapes come often and on their own schedule. */
const PROBES = /^\/(health(\/|$)|metrics$)/;

export interface AccessControlOptions {
  keys: ApiKeys;
  server: ServerConfig;
}

/** The path of a request URL without its query. */
const pathOf = (url: string) => url.split('?')[0];

/** The media type of a Content-Type header, lower case without parameters. */
export function mediaTypeOf(header: string | undefined): string | undefined {
  const type = header?.split(';')[0].trim().toLowerCase();
  return type || undefined;
}

/** application/json or a structured JSON type such as application/merge-patch+json. */
export const isJsonMediaType = (type: string) =>
  type === 'application/json' || /^application\/[\w.+-]+\+json$/.test(type);

/** The secret a request presents: `Authorization: Bearer …` first, else `x-api-key`. */
function presentedSecret(request: FastifyRequest): string | null | undefined {
  const authorization = request.headers.authorization;
  if (authorization !== undefined) {
    const match = /^Bearer[ ]+(\S+)\s*$/i.exec(authorization);
    return match ? match[1] : null;
  }
  const header = request.headers['x-api-key'];
  if (header === undefined) return undefined;
  return typeof header === 'string' && header.trim() ? header.trim() : null;
}

function sendProblem(
  request: FastifyRequest,
  reply: FastifyReply,
  status: number,
  detail: string,
): FastifyReply {
  const body = { ...problemOf(status, detail, pathOf(request.url)), requestId: request.id };
  return reply.status(status).header('content-type', PROBLEM_CONTENT_TYPE).send(body);
}

/**
 * Guards the control plane, in one onRequest hook, in this order:
 *  1. CORS: off unless server.cors.origins lists the request's Origin; preflights from other
 *     origins get 403.
 *  2. The API key (Bearer or x-api-key), looked up in constant time.
 *  3. The rate limit, per key (or per client address without one); /health and /metrics are
 *     exempt. Failed key attempts count against the address.
 *  4. Who may do what: with keys configured, every request needs a key (except /health/*,
 *     /metrics and the API docs unless configured otherwise) and a change needs an operate
 *     key; with none configured, changes are only taken from loopback clients that address
 *     the server by a loopback name.
 *  5. Content types: POST, PUT, PATCH and DELETE carry JSON; one without a body may leave the
 *     content type out only when it comes with a key, because a browser sends such a request
 *     cross-site without asking first (a "simple request") but never with a custom header.
 */
export async function registerAccessControl(
  fastify: FastifyInstance,
  { keys, server }: AccessControlOptions,
): Promise<void> {
  const origins = new Set(server.cors.origins.map((o) => o.toLowerCase()));
  await fastify.register(rateLimit, {
    global: false,
    max: server.rateLimit.max,
    timeWindow: server.rateLimit.windowMs,
    keyGenerator: (request) =>
      request.apiKey ? `key:${request.apiKey.id}` : `address:${request.socket.remoteAddress}`,
  });
  const limiter = fastify.createRateLimit();
  const isOpen = (path: string) =>
    path === '/docs' ||
    path.startsWith('/docs/') ||
    (!server.auth.healthRequiresKey && /^\/health(\/|$)/.test(path)) ||
    (!server.auth.metricsRequiresKey && path === '/metrics');

  fastify.addHook('onRequest', async (request, reply) => {
    const path = pathOf(request.url);
    const method = request.method;
    const mutating = MUTATING.has(method);

    // 1. CORS
    const origin = request.headers.origin;
    const allowedOrigin = origin !== undefined && origins.has(origin.toLowerCase());
    if (origins.size) void reply.header('vary', 'Origin');
    if (allowedOrigin) {
      void reply.header('access-control-allow-origin', origin);
      void reply.header('access-control-expose-headers', CORS_EXPOSE_HEADERS);
    }
    if (method === 'OPTIONS' && origin && request.headers['access-control-request-method']) {
      if (!allowedOrigin) {
        return sendProblem(
          request,
          reply,
          403,
          `origin ${origin} may not call this API from a browser: cross-origin requests are refused unless server.cors.origins (FLEETSIM_CORS_ORIGINS) lists the origin`,
        );
      }
      return reply
        .status(204)
        .header('access-control-allow-methods', CORS_METHODS)
        .header('access-control-allow-headers', CORS_ALLOW_HEADERS)
        .header('access-control-max-age', '600')
        .send();
    }

    // 2. The API key
    const secret = keys.enabled ? presentedSecret(request) : undefined;
    const key = secret ? keys.find(secret) : undefined;
    if (key) request.apiKey = key;

    // 3. The rate limit
    if (!PROBES.test(path)) {
      const limit = await limiter(request);
      if (!limit.isAllowed) {
        void reply
          .header('x-ratelimit-limit', limit.max)
          .header('x-ratelimit-remaining', limit.remaining)
          .header('x-ratelimit-reset', limit.ttlInSeconds);
        if (limit.isExceeded) {
          void reply.header('retry-after', limit.ttlInSeconds);
          return sendProblem(
            request,
            reply,
            429,
            `too many requests: each client may make ${limit.max} requests in ${limit.timeWindow} ms (server.rateLimit); retry in ${limit.ttlInSeconds} s`,
          );
        }
      }
    }

    // 4. Who may do what
    if (keys.enabled) {
      if (secret !== undefined && !key) {
        void reply.header('www-authenticate', `${REALM}, error="invalid_token"`);
        return sendProblem(
          request,
          reply,
          401,
          secret === null
            ? 'the API key must be sent as "Authorization: Bearer <key>" or "x-api-key: <key>"'
            : 'the API key is not valid',
        );
      }
      if (!key && (mutating || !isOpen(path))) {
        void reply.header('www-authenticate', REALM);
        return sendProblem(
          request,
          reply,
          401,
          'an API key is required: send it as "Authorization: Bearer <key>" or "x-api-key: <key>"',
        );
      }
      if (key && mutating && key.role !== 'operate') {
        return sendProblem(
          request,
          reply,
          403,
          `API key "${key.id}" has the ${key.role} role, which may only read (GET, HEAD); ${method} needs a key with the operate role`,
        );
      }
    } else if (mutating) {
      if (!isLoopbackAddress(request.socket.remoteAddress)) {
        return sendProblem(
          request,
          reply,
          403,
          'no API key is configured, so fleetsim only takes changes from this machine (loopback clients); ' +
            'set FLEETSIM_API_KEYS or FLEETSIM_API_KEYS_FILE to take them from elsewhere (docs/security.md)',
        );
      }
      if (!isLoopbackHost(request.headers.host)) {
        return sendProblem(
          request,
          reply,
          403,
          `no API key is configured, so fleetsim only takes changes addressed to localhost, 127.0.0.1 or [::1], not to "${request.headers.host ?? ''}" ` +
            '(this stops web pages from reaching it by DNS rebinding); set FLEETSIM_API_KEYS to lift it (docs/security.md)',
        );
      }
    }

    // 5. Content types
    if (mutating) {
      const type = mediaTypeOf(request.headers['content-type']);
      const length = request.headers['content-length'];
      const hasBody =
        request.headers['transfer-encoding'] !== undefined ||
        (length !== undefined && length !== '0');
      if (type !== undefined && !isJsonMediaType(type)) {
        return sendProblem(request, reply, 415, `${method} takes application/json, not ${type}`);
      }
      if (type === undefined && hasBody) {
        return sendProblem(
          request,
          reply,
          415,
          `${method} with a body needs content-type: application/json`,
        );
      }
      if (type === undefined && !key) {
        return sendProblem(
          request,
          reply,
          415,
          `${method} without an API key needs content-type: application/json, even without a body ` +
            '(browsers send body-less requests without a content type across sites without asking first)',
        );
      }
    }
  });
}
