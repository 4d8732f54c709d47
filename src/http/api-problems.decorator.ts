import { applyDecorators } from '@nestjs/common';
import {
  ApiExtraModels,
  ApiProperty,
  ApiPropertyOptional,
  ApiResponse,
  ApiSchema,
  getSchemaPath,
} from '@nestjs/swagger';
import { PROBLEM_CONTENT_TYPE } from './problem.js';

/** One broken rule of a request, as `errors` lists them. */
@ApiSchema({ name: 'FieldProblem' })
export class FieldProblemDto {
  @ApiProperty({ description: 'Dotted path of the field', example: 'deviceCount' })
  field!: string;

  @ApiProperty({
    description: 'The rule it breaks (class-validator name or a domain rule)',
    example: 'max',
  })
  rule!: string;

  @ApiProperty({ example: 'deviceCount must not be greater than 100000' })
  message!: string;
}

/** An RFC 9457 problem detail: the body of every 4xx and 5xx answer. */
@ApiSchema({ name: 'ProblemDetails' })
export class ProblemDetailsDto {
  @ApiProperty({
    description: 'Problem type; about:blank means the status says it all',
    example: 'about:blank',
  })
  type!: string;

  @ApiProperty({ description: "The status code's reason phrase", example: 'Bad Request' })
  title!: string;

  @ApiProperty({ type: 'integer', minimum: 400, maximum: 599, example: 400 })
  status!: number;

  @ApiProperty({
    description: 'What went wrong, for a person',
    example: 'deviceCount must not be greater than 100000',
  })
  detail!: string;

  @ApiPropertyOptional({ description: 'The path of the request', example: '/api/v1/fleets' })
  instance?: string;

  @ApiPropertyOptional({
    description: 'The x-request-id of the request (also in the log)',
    example: '4b9f3c1e-9d0a-4c47-8f6e-0d3f1c1a2b3c',
  })
  requestId?: string;

  @ApiPropertyOptional({
    type: [FieldProblemDto],
    description: 'Each field and rule a 400 or 422 found broken',
  })
  errors?: FieldProblemDto[];

  @ApiPropertyOptional({
    type: 'integer',
    description: 'The limit a 422 ran into (limits.* of the configuration)',
    example: 100000,
  })
  limit?: number;

  @ApiPropertyOptional({
    description: 'With a 412: the current ETag of the resource, to read it again and retry',
    example: '"e-m19CwMUrQSd_ZfZFk0w8"',
  })
  etag?: string;
}

/** Error statuses an operation may document. */
export type ProblemStatus = 400 | 401 | 403 | 404 | 409 | 412 | 413 | 415 | 422 | 428 | 429 | 503;

/** What each status means when an operation does not say more. */
const DEFAULT_DESCRIPTIONS: Record<ProblemStatus, string> = {
  400: 'The request is malformed: not JSON, a wrong type, a value out of range or an unknown field; `errors` names each field and rule',
  401: 'API keys are configured and the request has none, or one that is not known',
  403: 'The API key may not do this (a read key and a change), or, without keys, a change from a client that is not on this machine, or a cross-origin request from an origin server.cors.origins does not list',
  404: 'No such resource',
  409: 'The request conflicts with the current state',
  412: 'If-Match names a version that is no longer current',
  413: 'The request body is larger than server.bodyLimitBytes',
  415: 'The request body is not application/json',
  422: 'The request is well-formed but cannot be carried out; `errors` says why',
  428: 'server.requireIfMatch is on and the request has no If-Match',
  429: 'Too many requests from this client; retry after the time in Retry-After',
  503: 'Kafka cannot be reached right now',
};

/**
 * The 503 of a change in cluster mode (docs/scale-out.md): the control topic's reader did not
 * apply it within 15 s.
 */
export const CONTROL_TOPIC_503 =
  'Cluster mode: the change was written to the control topic but not applied here within 15 s (its reader is down; it applies once the reader is back), or, if it was not written, nothing was changed';

/** The 415 of a change without a body (src/http/access.control.ts, step 5). */
export const BODYLESS_CHANGE_415 =
  'Without an API key, a change must say content-type: application/json, even without a body; with one, a content type other than JSON';

/**
 * Statuses every operation may answer, whatever it does: 429, and 401 and 403 with API keys
 * (FLEETSIM_API_KEYS; src/http/access.control.ts). Switched here, in one place.
 */
export const API_KEY_PROBLEMS_DOCUMENTED = true;
const COMMON: ProblemStatus[] = [
  ...(API_KEY_PROBLEMS_DOCUMENTED ? ([401, 403] as const) : []),
  429,
];

const EXAMPLE = (status: number, detail: string) => ({
  type: 'about:blank',
  title: TITLE[status] ?? 'Client Error',
  status,
  detail,
  requestId: '4b9f3c1e-9d0a-4c47-8f6e-0d3f1c1a2b3c',
});
const TITLE: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  409: 'Conflict',
  412: 'Precondition Failed',
  413: 'Content Too Large',
  415: 'Unsupported Media Type',
  422: 'Unprocessable Content',
  428: 'Precondition Required',
  429: 'Too Many Requests',
  503: 'Service Unavailable',
};

/**
 * Documents an operation's error answers, each an application/problem+json ProblemDetails:
 * the statuses given (with a description of what they mean here, or `true` for the usual
 * one) and the statuses every operation may answer (429, and 401/403 with API keys).
 *
 *   @ApiProblems({ 400: true, 404: 'No fleet with this id' })
 */
export function ApiProblems(
  problems: Partial<Record<ProblemStatus, string | true>> = {},
): MethodDecorator & ClassDecorator {
  const statuses = new Map<ProblemStatus, string>();
  for (const status of COMMON) statuses.set(status, DEFAULT_DESCRIPTIONS[status]);
  for (const [key, text] of Object.entries(problems)) {
    const status = Number(key) as ProblemStatus;
    statuses.set(status, text === true ? DEFAULT_DESCRIPTIONS[status] : text);
  }
  return applyDecorators(
    ApiExtraModels(ProblemDetailsDto, FieldProblemDto),
    ...[...statuses].map(([status, description]) =>
      ApiResponse({
        status,
        description,
        content: {
          [PROBLEM_CONTENT_TYPE]: {
            schema: { $ref: getSchemaPath(ProblemDetailsDto) },
            example: EXAMPLE(status, description.split(';')[0]),
          },
        },
        ...(status === 401
          ? {
              headers: {
                'WWW-Authenticate': {
                  description: 'Bearer realm="fleetsim" (error="invalid_token" for an unknown key)',
                  schema: { type: 'string' },
                },
              },
            }
          : {}),
        ...(status === 429
          ? {
              headers: {
                'Retry-After': {
                  description: 'Seconds to wait before the next request',
                  schema: { type: 'integer' },
                },
              },
            }
          : {}),
      }),
    ),
  );
}
