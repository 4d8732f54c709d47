/** Share of a backoff delay it may vary by, either way (Kafka's Java clients use 0.2). */
export const BACKOFF_JITTER = 0.2;

/**
 * The delay before try `attempt + 1` of something that failed `attempt + 1` times: `baseMs`
 * doubled per attempt, capped at `maxMs` (at least `baseMs`), then jittered by ±20 % so that
 * many clients (or lanes) that failed together do not retry in lock-step; never above the cap.
 */
export function backoffMs(
  attempt: number,
  baseMs: number,
  maxMs: number,
  random: () => number = Math.random,
): number {
  const cap = Math.max(baseMs, maxMs);
  const exponential = Math.min(cap, baseMs * 2 ** Math.min(Math.max(0, attempt), 30));
  const jittered = exponential * (1 - BACKOFF_JITTER + 2 * BACKOFF_JITTER * random());
  return Math.max(1, Math.min(cap, Math.round(jittered)));
}
