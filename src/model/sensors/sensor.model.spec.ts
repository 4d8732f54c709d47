import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DAY_MS, utcDayOfWeek } from './sensor.model.js';

void test('utcDayOfWeek agrees with Date#getUTCDay', () => {
  const times = [0, -0, 0.5, -0.5, -1, 1, DAY_MS - 0.5, DAY_MS, -DAY_MS, -DAY_MS - 0.5, 8.64e15];
  times.push(-8.64e15, 8.64e15 + 0.9, 8.64e15 + 1, -8.64e15 - 1, NaN, Infinity, -Infinity);
  let seed = 7;
  for (let i = 0; i < 100_000; i++) {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    times.push((seed / 2 ** 32 - 0.5) * 2e13 + i / 7);
  }
  for (let d = -800; d <= 800; d++) times.push(d * DAY_MS, d * DAY_MS - 1, d * DAY_MS + 0.25);
  for (const ts of times) {
    const want = new Date(ts).getUTCDay();
    const got = utcDayOfWeek(ts);
    if (!Object.is(got, want)) assert.fail(`ts=${ts}: ${got}, Date says ${want}`);
  }
});
