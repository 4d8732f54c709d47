/** One broken rule of a request: which field, which rule, and the message. */
export interface FieldProblem {
  field: string;
  rule: string;
  message: string;
}

/**
 * What went wrong, in domain terms; the HTTP edge (src/http/problem.filter.ts) maps each code
 * to a status and a problem+json body.
 */
export const DOMAIN_ERROR_CODES = [
  /** The fleet, device, anomaly or scenario named does not exist. */
  'NOT_FOUND',
  /** The request breaks a rule of its own (a field, a combination of fields). */
  'INVALID_INPUT',
  /** The request clashes with what exists or runs now (a name taken, a state it needs). */
  'CONFLICT',
  /** The request would take the simulator past one of its bounds. */
  'LIMIT_EXCEEDED',
  /**
   * The request is well formed, every field valid on its own, but it cannot be carried out:
   * fields that contradict each other (a time range that ends before it starts) or this
   * fleet (a target that matches nothing).
   */
  'INVALID_PLAN',
  /** A conditional change (If-Match) names a version that is no longer in force. */
  'STALE_VERSION',
  /** A change must name the version it was based on (server.requireIfMatch) and did not. */
  'VERSION_REQUIRED',
  /**
   * fleetsim cannot do it now (Kafka unreachable, shutting down); nothing was changed. In
   * cluster mode also: a change written to the control topic that this member has not applied
   * in time (it applies later; the message says which).
   */
  'UNAVAILABLE',
] as const;
export type DomainErrorCode = (typeof DOMAIN_ERROR_CODES)[number];

/** An error a service throws: a code, a message for people, and the fields at fault. */
export class DomainError extends Error {
  constructor(
    readonly code: DomainErrorCode,
    message: string,
    readonly errors?: FieldProblem[],
    /** More members of the problem body (e.g. the limit that was hit). */
    readonly extra?: Record<string, unknown>,
  ) {
    super(message);
    this.name = 'DomainError';
  }
}

export const notFound = (what: string, id: string) =>
  new DomainError('NOT_FOUND', `${what} "${id}" does not exist`);

/** An INVALID_INPUT error naming one field. */
export const invalidField = (problem: FieldProblem) =>
  new DomainError('INVALID_INPUT', problem.message, [problem]);
