import assert from 'node:assert/strict';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { LOOP_DELAY_RESOLUTION_MS, loopDelayMs } from './fleetsim.metrics.js';

test('the event-loop delay takes the sampling interval off what Node records', () => {
  // Node records whole intervals: 12 ms between two 10 ms samples is a 2 ms delay.
  const h = { percentile: (p: number) => (p === 99 ? 12e6 : 9.5e6) };
  assert.equal(loopDelayMs(h, 99), 2);
  assert.equal(loopDelayMs(h, 50), 0, 'a timer that fired early is not a negative delay');
  assert.equal(loopDelayMs(h, 99, 1), 11);
});

test('a blocked event loop shows as delay, an idle one as next to none', async () => {
  const h = monitorEventLoopDelay({ resolution: LOOP_DELAY_RESOLUTION_MS });
  h.enable();
  await sleep(200);
  const idle = loopDelayMs(h, 50);
  const end = performance.now() + 120;
  while (performance.now() < end); // block the loop for 120 ms
  await sleep(30);
  h.disable();
  assert.ok(idle < LOOP_DELAY_RESOLUTION_MS, `idle median ${idle} ms`);
  assert.ok(h.max / 1e6 - LOOP_DELAY_RESOLUTION_MS >= 100, `max ${h.max / 1e6} ms`);
});
