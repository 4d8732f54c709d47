import { HttpException, HttpStatus, type ValidationError } from '@nestjs/common';
import type { FieldProblem } from '../model/domain.error.js';
import { fieldProblems } from '../model/field.problems.js';

export type { FieldProblem };

/** An RFC 9457 problem detail. */
export interface ProblemDetails {
  type: string;
  title: string;
  status: number;
  detail: string;
  instance?: string;
  errors?: FieldProblem[];
  [extension: string]: unknown;
}

export const PROBLEM_CONTENT_TYPE = 'application/problem+json';

/** An HTTP error whose body is a problem detail, thrown by the HTTP edge (services throw DomainError). */
export class ProblemException extends HttpException {
  constructor(status: HttpStatus, detail: string, extra: Partial<ProblemDetails> = {}) {
    super({ detail, ...extra }, status);
  }
}

/** The exception the global ValidationPipe throws: a 400 naming every field and rule. */
export function validationException(errors: ValidationError[]): ProblemException {
  const problems = fieldProblems(errors);
  return new ProblemException(HttpStatus.BAD_REQUEST, problems.map((p) => p.message).join('; '), {
    errors: problems,
  });
}
