import type { FastifyInstance } from 'fastify';
import { PROBLEM_CONTENT_TYPE } from './problem.js';
import { problemOf } from './problem.filter.js';

interface KnownPath {
  pattern: RegExp;
  methods: Set<string>;
}

/** '/api/v1/fleets/:id' → a regular expression matching the paths of that route. */
function patternOf(url: string): RegExp {
  const source = url
    .split('/')
    .map((part) =>
      part.startsWith(':')
        ? '[^/]+'
        : part === '*'
          ? '.*'
          : part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'),
    )
    .join('/');
  return new RegExp(`^${source}/?$`);
}

/** The Allow header for a path's methods: HEAD comes with GET, OPTIONS always. */
export function allowHeader(methods: Iterable<string>): string {
  const all = new Set(methods);
  if (all.has('GET')) all.add('HEAD');
  all.add('OPTIONS');
  const order = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'];
  return [...all].sort((a, b) => order.indexOf(a) - order.indexOf(b)).join(', ');
}

/**
 * A request for a path the server has, with a method it does not have, answers 405 Method
 * Not Allowed with an Allow header and a problem+json body instead of 404 (RFC 9110 §15.5.6);
 * OPTIONS on such a path answers 204 with the Allow header. Unknown paths still answer 404.
 *
 * Call before the routes are registered (it learns them from Fastify's onRoute hook).
 */
export function registerMethodNotAllowed(fastify: FastifyInstance): void {
  const paths = new Map<string, KnownPath>();
  fastify.addHook('onRoute', (route) => {
    const url = route.url ?? route.path;
    if (!url) return;
    let known = paths.get(url);
    if (!known) {
      known = { pattern: patternOf(url), methods: new Set() };
      paths.set(url, known);
    }
    for (const method of [route.method].flat()) known.methods.add(method.toUpperCase());
  });
  fastify.addHook('onRequest', (request, reply, done) => {
    // Only requests that no route matched reach Fastify's 404 handler.
    if (!request.is404) return done();
    const path = request.url.split('?')[0];
    const methods = new Set<string>();
    for (const known of paths.values()) {
      if (known.pattern.test(path)) for (const m of known.methods) methods.add(m);
    }
    if (methods.size === 0) return done();
    const allow = allowHeader(methods);
    if (request.method === 'OPTIONS') {
      void reply.status(204).header('allow', allow).send();
      return;
    }
    const body = problemOf(
      405,
      `${path} does not support ${request.method}; it supports ${allow}`,
      path,
      { requestId: request.id },
    );
    void reply
      .status(405)
      .header('allow', allow)
      .header('content-type', PROBLEM_CONTENT_TYPE)
      .send(body);
  });
}
