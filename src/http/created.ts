import type { Type } from '@nestjs/common';
import { ApiCreatedResponse, type HeadersObject } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';

/**
 * The documented 201 of a POST that creates a resource: its body, and its URL in the
 * Location header (setLocation sets it), before any other headers.
 */
export const ApiCreated = (options: {
  /** What is created, for the Location header's description: "fleet", "anomaly". */
  what: string;
  type: Type<unknown>;
  description: string;
  example: unknown;
  headers?: HeadersObject;
}): MethodDecorator & ClassDecorator =>
  ApiCreatedResponse({
    type: options.type,
    description: options.description,
    example: options.example,
    headers: {
      Location: { description: `The URL of the new ${options.what}`, schema: { type: 'string' } },
      ...options.headers,
    },
  });

/** Location: the URL of a new resource, its id (encoded) under the collection it joined. */
export function setLocation(reply: FastifyReply, collection: string, id: string): void {
  void reply.header('location', `${collection}/${encodeURIComponent(id)}`);
}
