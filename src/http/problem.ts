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

/** Which broken rule to report first for a field: presence, then type, then range. */
const RULE_ORDER = [
  'whitelistValidation',
  'isDefined',
  'isString',
  'isInt',
  'isNumber',
  'isBoolean',
  'isArray',
  'nestedValidation',
  'isIn',
];
const rank = (rule: string) => {
  const i = RULE_ORDER.indexOf(rule);
  return i < 0 ? RULE_ORDER.length : i;
};

/**
 * Flattens class-validator errors to field paths ("layout.buildings") with the first broken
 * rule of each field: a missing value is reported as missing, a string as not an integer,
 * rather than as every range it also fails.
 */
export function fieldProblems(errors: ValidationError[], prefix = ''): FieldProblem[] {
  return errors.flatMap((e) => {
    const field = `${prefix}${e.property}`;
    const own: FieldProblem[] = [];
    const rules = Object.entries(e.constraints ?? {}).sort(([a], [b]) => rank(a) - rank(b));
    if (rules.length) {
      const [rule, message] = rules[0];
      if (rule === 'whitelistValidation') {
        own.push({ field, rule: 'unknown', message: `${field} is not a known field` });
      } else if (e.value === undefined && rule !== 'isDefined') {
        own.push({ field, rule: 'isDefined', message: `${field} is required` });
      } else {
        own.push({ field, rule, message: prefix ? message.replace(e.property, field) : message });
      }
    }
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
