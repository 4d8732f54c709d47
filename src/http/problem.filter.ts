import {
  type ArgumentsHost,
  Catch,
  type ExceptionFilter,
  HttpException,
  HttpStatus,
  Logger,
} from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { DomainError, type DomainErrorCode } from '../model/domain.error.js';
import { PROBLEM_CONTENT_TYPE, type ProblemDetails } from './problem.js';

/** The HTTP status of each domain error code. */
export const DOMAIN_STATUS: Record<DomainErrorCode, HttpStatus> = {
  NOT_FOUND: HttpStatus.NOT_FOUND,
  INVALID_INPUT: HttpStatus.BAD_REQUEST,
  CONFLICT: HttpStatus.CONFLICT,
  LIMIT_EXCEEDED: HttpStatus.UNPROCESSABLE_ENTITY,
  INVALID_PLAN: HttpStatus.UNPROCESSABLE_ENTITY,
  STALE_VERSION: HttpStatus.PRECONDITION_FAILED,
  VERSION_REQUIRED: HttpStatus.PRECONDITION_REQUIRED,
  UNAVAILABLE: HttpStatus.SERVICE_UNAVAILABLE,
};

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

/** The problem a domain error answers with. */
export function domainProblem(error: DomainError, instance?: string): ProblemDetails {
  return problemOf(DOMAIN_STATUS[error.code], error.message, instance, {
    ...(error.errors ? { errors: error.errors } : {}),
    ...error.extra,
  });
}

/** The HTTP status an error answers with: a domain error's, an HTTP exception's, else 500. */
export function statusOf(error: unknown): number {
  if (error instanceof DomainError) return DOMAIN_STATUS[error.code];
  if (error instanceof HttpException) return error.getStatus();
  return HttpStatus.INTERNAL_SERVER_ERROR;
}

/**
 * Turns domain errors and HTTP exceptions into problem+json and unknown errors into a plain
 * 500.
 */
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
    if (exception instanceof DomainError) {
      body = domainProblem(exception, instance);
    } else if (exception instanceof HttpException) {
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
