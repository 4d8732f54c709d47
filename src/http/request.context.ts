import { AsyncLocalStorage } from 'node:async_hooks';
import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { FastifyInstance } from 'fastify';

/** What code running on behalf of an HTTP request can know about it. */
export interface RequestContext {
  requestId: string;
}

const storage = new AsyncLocalStorage<RequestContext>();

/** The request id of the HTTP request being handled, if any (for log lines). */
export function currentRequestId(): string | undefined {
  return storage.getStore()?.requestId;
}

/** Incoming ids are kept when they are short and printable; anything else is replaced. */
const ACCEPTABLE_ID = /^[\w.:@/+=-]{1,128}$/;

export const REQUEST_ID_HEADER = 'x-request-id';

/** Fastify's genReqId: the caller's x-request-id when acceptable, else a new UUID. */
export function requestIdOf(req: IncomingMessage): string {
  const given = req.headers[REQUEST_ID_HEADER];
  return typeof given === 'string' && ACCEPTABLE_ID.test(given) ? given : randomUUID();
}

/**
 * Returns the request id in the x-request-id response header and makes it known to the code
 * handling the request. The context is entered twice because Fastify runs the route handler
 * from the request body's 'end' event, outside the context entered in onRequest.
 */
export function registerRequestContext(fastify: FastifyInstance): void {
  fastify.addHook('onRequest', (request, reply, done) => {
    void reply.header(REQUEST_ID_HEADER, request.id);
    storage.run({ requestId: request.id }, done);
  });
  fastify.addHook('preValidation', (request, _reply, done) => {
    storage.run({ requestId: request.id }, done);
  });
}
