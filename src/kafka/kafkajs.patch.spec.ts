import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { test } from 'node:test';
import './kafkajs.patch.js';

const RequestQueue = createRequire(import.meta.url)(
  'kafkajs/src/network/requestQueue/index.js',
) as { prototype: { scheduleCheckPendingRequests(this: unknown): void } };

test("kafkajs's pending-request check is armed without a negative delay (no TimeoutNegativeWarning)", async () => {
  const warnings: string[] = [];
  const onWarning = (w: Error) => warnings.push(w.name);
  process.on('warning', onWarning);
  try {
    let checked = 0;
    // A queue as kafkajs leaves it when no broker has throttled: throttledUntil = -1.
    const queue = {
      throttledUntil: -1,
      throttleCheckTimeoutId: null as NodeJS.Timeout | null,
      pending: [] as unknown[],
      checkPendingRequests: () => checked++,
    };
    RequestQueue.prototype.scheduleCheckPendingRequests.call(queue);
    assert.ok(queue.throttleCheckTimeoutId, 'a check is scheduled');
    await new Promise((resolve) => setTimeout(resolve, 20));
    assert.equal(checked, 1, 'the check ran');
    assert.equal(queue.throttleCheckTimeoutId, null);
    // Throttled by the broker: the check waits for the throttle to end.
    queue.throttledUntil = Date.now() + 60;
    queue.pending.push({});
    RequestQueue.prototype.scheduleCheckPendingRequests.call(queue);
    await new Promise((resolve) => setTimeout(resolve, 20));
    assert.equal(checked, 1, 'not before the throttle ends');
    await new Promise((resolve) => setTimeout(resolve, 80));
    assert.equal(checked, 2);
  } finally {
    process.off('warning', onWarning);
  }
  assert.deepEqual(warnings, []);
});
