import { HttpStatus } from '@nestjs/common';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { ProblemException } from './problem.js';

/** Deepest JSON nesting a request body may have; fleetsim's own bodies need 4 levels. */
export const MAX_JSON_DEPTH = 32;

/**
 * How deeply the JSON text nests objects and arrays, counted without parsing (brackets inside
 * strings do not count); stops counting past `limit`.
 */
export function jsonDepth(text: string, limit = Infinity): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c)
        i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x7b || c === 0x5b) {
      if (++depth > max && (max = depth) > limit) return max;
    } else if (c === 0x7d || c === 0x5d) depth--;
  }
  return max;
}

/** True when the text is JSON (JSON.parse makes "__proto__" an own property: no pollution). */
function isJson(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

/**
 * Parses JSON request bodies (application/json and the given other types) with Fastify's
 * own parser, which refuses `__proto__` and `constructor.prototype` keys, after refusing
 * bodies nested deeper than MAX_JSON_DEPTH: such a body would otherwise overflow the stack of
 * the recursive code that copies it into a DTO (a 500).
 */
export function registerJsonParser(fastify: FastifyInstance, otherTypes: string[] = []): void {
  const parse = fastify.getDefaultJsonParser('error', 'error');
  const parser = (
    request: FastifyRequest,
    body: string,
    done: (err: Error | null, body?: unknown) => void,
  ) => {
    // An empty body is no body (body-less actions sent as application/json).
    if (body.length === 0) {
      done(null, undefined);
      return;
    }
    if (jsonDepth(body, MAX_JSON_DEPTH) > MAX_JSON_DEPTH) {
      const message = `the JSON body is nested deeper than ${MAX_JSON_DEPTH} levels`;
      done(
        new ProblemException(HttpStatus.BAD_REQUEST, message, {
          errors: [{ field: 'body', rule: 'maxDepth', message }],
        }),
      );
      return;
    }
    void parse(request, body, (err, value) => {
      // secure-json-parse refuses these keys with a SyntaxError that Fastify reports as
      // "not valid JSON"; say what it is.
      if (err && /"(__proto__|constructor)"\s*:/.test(body) && isJson(body)) {
        const message =
          'the body holds a __proto__ or constructor.prototype key, which fleetsim refuses';
        done(
          new ProblemException(HttpStatus.BAD_REQUEST, message, {
            errors: [{ field: 'body', rule: 'noPrototypeKeys', message }],
          }),
        );
        return;
      }
      done(err, value);
    });
  };
  fastify.removeContentTypeParser('application/json');
  for (const type of ['application/json', ...otherTypes]) {
    fastify.addContentTypeParser(type, { parseAs: 'string' }, parser);
  }
}
