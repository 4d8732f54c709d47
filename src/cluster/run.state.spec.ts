import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  INITIAL_RUN_STATE,
  parseRunState,
  scheduleTime,
  sharedAnchor,
  startAt,
  stopAt,
  wallAnchor,
} from './run.state.js';

test('a stop records when; a start adds the stopped time to pausedMs', () => {
  const stopped = stopAt(INITIAL_RUN_STATE, 10_000);
  assert.deepEqual(stopped, { running: false, pausedMs: 0, stoppedAt: 10_000 });
  const started = startAt(stopped, 14_500);
  assert.deepEqual(started, { running: true, pausedMs: 4_500 });
  // A second pause adds up.
  assert.deepEqual(startAt(stopAt(started, 20_000), 21_000), { running: true, pausedMs: 5_500 });
});

test('a stop while stopped and a start while running change nothing', () => {
  const stopped = stopAt(INITIAL_RUN_STATE, 10_000);
  assert.equal(stopAt(stopped, 12_000), stopped);
  const running = { running: true, pausedMs: 300 };
  assert.equal(startAt(running, 12_000), running);
});

test('a start before the recorded stop (clock skew between members) adds nothing', () => {
  assert.deepEqual(startAt(stopAt(INITIAL_RUN_STATE, 10_000), 9_000), {
    running: true,
    pausedMs: 0,
  });
});

test('the schedules stand at the stop time while stopped, at now while running', () => {
  assert.equal(scheduleTime(INITIAL_RUN_STATE, 5_000), 5_000);
  assert.equal(scheduleTime(stopAt(INITIAL_RUN_STATE, 3_000), 5_000), 3_000);
  // An older version's stop record has no time: now.
  assert.equal(scheduleTime({ running: false, pausedMs: 0 }, 5_000), 5_000);
});

test('records of older versions read as no pause; bad values are ignored', () => {
  assert.deepEqual(parseRunState({ running: true }), { running: true, pausedMs: 0 });
  assert.deepEqual(parseRunState({ running: false }), { running: false, pausedMs: 0 });
  assert.deepEqual(parseRunState({ running: false, pausedMs: 20, stoppedAt: 7 }), {
    running: false,
    pausedMs: 20,
    stoppedAt: 7,
  });
  assert.deepEqual(parseRunState({ running: true, pausedMs: 'x', stoppedAt: 7 }), {
    running: true,
    pausedMs: 0,
  });
  assert.deepEqual(parseRunState({ running: false, stoppedAt: Infinity }), {
    running: false,
    pausedMs: 0,
  });
});

test('fleet anchors convert between the wall clock and the shared paused-time clock', () => {
  const state = startAt(stopAt(INITIAL_RUN_STATE, 10_000), 13_000);
  assert.equal(sharedAnchor(state, 20_000), 17_000);
  assert.equal(wallAnchor(state, 17_000), 20_000);
  // Before any pause both clocks agree (records of older versions stay valid).
  assert.equal(sharedAnchor(INITIAL_RUN_STATE, 20_000), 20_000);
});
