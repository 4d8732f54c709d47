import {
  type ArgumentsHost,
  Catch,
  type ExceptionFilter,
  HttpException,
  HttpStatus,
  Logger,
} from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { PROBLEM_CONTENT_TYPE, type ProblemDetails } from './problem.js';

const TITLES: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  409: 'Conflict',
  413: 'Content Too Large',
  412: 'Precondition Failed',
  415: 'Unsupported Media Type',
  422: 'Unprocessable Content',
  428: 'Precondition Required',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
};

export function problemOf(
  status: number,
  detail: string,
  instance?: string,
  extra = {},
): ProblemDetails {
  return {
    type: 'about:blank',
    title: TITLES[status] ?? (status >= 500 ? 'Server Error' : 'Client Error'),
    status,
    detail,
    ...(instance ? { instance } : {}),
    ...extra,
  };
}

/** Turns HTTP exceptions into problem+json and unknown errors into a plain 500. */
@Catch()
export class ProblemFilter implements ExceptionFilter {
  private readonly logger = new Logger('HTTP');

  constructor(private readonly bodyLimit?: number) {}

  catch(exception: unknown, host: ArgumentsHost): void {
    const ctx = host.switchToHttp();
    const reply = ctx.getResponse<FastifyReply>();
    const request = ctx.getRequest<FastifyRequest>();
    const instance = request?.url?.split('?')[0];
    let body: ProblemDetails;
    if (exception instanceof HttpException) {
      const status = exception.getStatus();
      const response = exception.getResponse();
      if (typeof response === 'object' && response !== null && 'detail' in response) {
        const { detail, ...extra } = response as { detail: string };
        body = problemOf(status, detail, instance, extra);
      } else {
        const message =
          typeof response === 'string'
            ? response
            : String((response as { message?: unknown }).message ?? exception.message);
        const detail =
          status === 404
            ? `no route ${request.method} ${instance}`
            : status === 413 && this.bodyLimit
              ? `the request body is larger than the limit of ${this.bodyLimit} bytes`
              : message;
        body = problemOf(status, detail, instance);
      }
    } else {
      this.logger.error(
        exception instanceof Error ? (exception.stack ?? exception.message) : String(exception),
      );
      body = problemOf(HttpStatus.INTERNAL_SERVER_ERROR, 'an unexpected error occurred', instance);
    }
    if (request?.id) body.requestId = request.id;
    void reply.status(body.status).header('content-type', PROBLEM_CONTENT_TYPE).send(body);
  }
}
