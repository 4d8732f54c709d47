import { HttpException, HttpStatus, type ValidationError } from '@nestjs/common';

/** One broken rule of a request: which field, which rule, and the message. */
export interface FieldProblem {
  field: string;
  rule: string;
  message: string;
}

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

/** An HTTP error whose body is a problem detail; domain code throws it with a clear detail. */
export class ProblemException extends HttpException {
  constructor(status: HttpStatus, detail: string, extra: Partial<ProblemDetails> = {}) {
    super({ detail, ...extra }, status);
  }
}

export const notFound = (what: string, id: string) =>
  new ProblemException(HttpStatus.NOT_FOUND, `${what} "${id}" does not exist`);

/** Flattens class-validator errors to field paths ("layout.buildings") and rule names. */
export function fieldProblems(errors: ValidationError[], prefix = ''): FieldProblem[] {
  return errors.flatMap((e) => {
    const field = `${prefix}${e.property}`;
    const own = Object.entries(e.constraints ?? {}).map(([rule, message]) => ({
      field,
      rule: rule === 'whitelistValidation' ? 'unknown' : rule,
      message: rule === 'whitelistValidation' ? `${field} is not a known field` : message,
    }));
    return [...own, ...fieldProblems(e.children ?? [], `${field}.`)];
  });
}

/** The exception the global ValidationPipe throws: a 400 naming every field and rule. */
export function validationException(errors: ValidationError[]): ProblemException {
  const problems = fieldProblems(errors);
  return new ProblemException(HttpStatus.BAD_REQUEST, problems.map((p) => p.message).join('; '), {
    errors: problems,
  });
}
