import assert from 'node:assert/strict';
import { test } from 'node:test';
import { backoffMs } from './backoff.js';
import { CircuitBreaker } from './circuit.breaker.js';

test('the retry backoff doubles, stops at its cap and is jittered by ±20 %', () => {
  const low = () => 0;
  const high = () => 0.999999;
  const mid = () => 0.5;
  assert.deepEqual(
    [0, 1, 2, 3, 4, 10, 50].map((a) => backoffMs(a, 100, 1000, mid)),
    [100, 200, 400, 800, 1000, 1000, 1000],
  );
  assert.equal(backoffMs(0, 100, 1000, low), 80);
  assert.equal(backoffMs(1, 100, 1000, high), 240);
  assert.equal(backoffMs(20, 100, 1000, high), 1000, 'never past the cap');
  assert.equal(backoffMs(20, 100, 1000, low), 800);
  assert.equal(backoffMs(3, 500, 100, mid), 500, 'the cap is at least the first delay');
  const spread = new Set(Array.from({ length: 50 }, () => backoffMs(2, 100, 1000)));
  assert.ok(spread.size > 5, 'delays differ between tries');
});

test('the circuit breaker’s open period is capped and jittered', () => {
  let now = 0;
  let r = 0;
  const breaker = new CircuitBreaker(
    { failureThreshold: 1, openMs: 100, maxOpenMs: 300 },
    () => now,
    () => {},
    () => r,
  );
  breaker.failure();
  assert.equal(breaker.waitMs(), 80, 'first period 100 ms - 20 %');
  const periods: number[] = [];
  r = 0.5;
  for (let i = 0; i < 5; i++) {
    now += breaker.waitMs();
    assert.equal(breaker.allow(), true, 'a probe once the period is over');
    breaker.failure();
    periods.push(breaker.waitMs());
  }
  assert.deepEqual(periods, [200, 300, 300, 300, 300]);
  breaker.success();
  breaker.failure();
  assert.equal(breaker.waitMs(), 100, 'back to the first period after a success');
});
