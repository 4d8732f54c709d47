import { createHash } from 'node:crypto';
import { DomainError } from './domain.error.js';

/** A strong entity tag for a JSON value: the same representation, the same tag. */
export function etagOf(value: unknown): string {
  return `"${createHash('sha256').update(JSON.stringify(value)).digest('base64url').slice(0, 22)}"`;
}

/** Whether an If-Match header (a list of entity tags, or *) matches the current tag. */
export function ifMatchMatches(header: string, current: string): boolean {
  const tags = header.split(',').map((t) => t.trim());
  // If-Match compares strongly: a weak tag (W/"…") never matches.
  return tags.some((t) => t === '*' || t === current);
}

/**
 * Checks a change's If-Match header against the current entity tag: 428 when one is required
 * and missing, 412 when it names another version. `what` names the resource in the message.
 */
export function checkIfMatch(
  header: string | undefined,
  current: string,
  required: boolean,
  what: string,
): void {
  if (header === undefined || header.trim() === '') {
    if (!required) return;
    throw new DomainError(
      'VERSION_REQUIRED',
      `changing ${what} needs an If-Match header with the ETag of the version you read (server.requireIfMatch)`,
    );
  }
  if (!ifMatchMatches(header, current)) {
    throw new DomainError(
      'STALE_VERSION',
      `${what} has changed since you read it (If-Match ${header}, now ${current}): read it again and retry; nothing was changed`,
      undefined,
      { etag: current },
    );
  }
}
