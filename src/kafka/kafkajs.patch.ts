/**
 * Imported for its effect, wherever kafkajs runs (the producer, the embedded broker's checks,
 * the tests' clients): one fix to kafkajs 2.2.4 on Node 24.
 */
import { createRequire } from 'node:module';

const RequestQueue = createRequire(import.meta.url)(
  'kafkajs/src/network/requestQueue/index.js',
) as { prototype: object };

// kafkajs 2.2.4 arms a timer for `throttledUntil - Date.now()` ms whenever a request is
// answered, a negative delay when no broker throttles (throttledUntil starts at -1), and Node 24
// prints a TimeoutNegativeWarning for it (tulios/kafkajs#1751). This is kafkajs's method with
// that one delay clamped at 0, where Node's own clamp put it anyway (it then ran after 1 ms).
{
  interface Queue {
    throttledUntil: number;
    throttleCheckTimeoutId: NodeJS.Timeout | null;
    pending: unknown[];
    checkPendingRequests(): void;
    scheduleCheckPendingRequests(): void;
  }
  const CHECK_PENDING_REQUESTS_INTERVAL = 10;
  (RequestQueue.prototype as Queue).scheduleCheckPendingRequests = function (this: Queue) {
    if (this.throttleCheckTimeoutId) return;
    let scheduleAt = this.throttledUntil - Date.now();
    if (this.pending.length > 0) {
      scheduleAt = scheduleAt > 0 ? scheduleAt : CHECK_PENDING_REQUESTS_INTERVAL;
    }
    this.throttleCheckTimeoutId = setTimeout(
      () => {
        this.throttleCheckTimeoutId = null;
        this.checkPendingRequests();
      },
      Math.max(0, scheduleAt),
    );
  };
}
