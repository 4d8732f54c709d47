import { Logger } from '@nestjs/common';
import type { FastifyInstance } from 'fastify';

/** Scraped and probed every few seconds: logged at debug level only, to keep the log readable. */
const QUIET = /^\/(metrics|health)(\/|\?|$)/;

/**
 * One log line per answered request: method, url, status, duration and request id, at info
 * level (debug for /metrics and /health).
 */
export function registerAccessLog(fastify: FastifyInstance): void {
  const logger = new Logger('HTTP');
  fastify.addHook('onResponse', (request, reply, done) => {
    const status = reply.statusCode;
    const durationMs = Math.round(reply.elapsedTime * 100) / 100;
    // Who made a change is always said: the API key's id (never the key), or "no key".
    const key = request.apiKey?.id;
    const by = key
      ? ` (key ${key})`
      : ['POST', 'PUT', 'PATCH', 'DELETE'].includes(request.method)
        ? ' (no key)'
        : '';
    const line = `${request.method} ${request.url} ${status} ${durationMs} ms${by}`;
    const fields = {
      requestId: request.id,
      method: request.method,
      url: request.url,
      status,
      durationMs,
      ...(key ? { apiKey: key } : {}),
    };
    if (QUIET.test(request.url)) logger.debug(line, fields);
    else logger.log(line, fields);
    done();
  });
}
