import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FakeClock } from '../../support/fake.clock.js';
import type { ScenarioDefinition } from '../../../src/scenarios/scenario.js';
import { ScenarioRun } from '../../../src/scenarios/scenario.runner.js';

const PLAN: ScenarioDefinition = {
  name: 'plan',
  stages: [
    { name: 'a', durationMs: 1000, overrides: {} },
    { name: 'b', durationMs: 5000, overrides: { anomalyRate: 0.01 } },
    { name: 'c', durationMs: 2000, overrides: {} },
  ],
};

function harness(start = 10_000) {
  const timers = new FakeClock(start);
  const log: string[] = [];
  const run = new ScenarioRun(PLAN, undefined, timers, {
    enter: (stage, index, r) =>
      log.push(`${timers.now()} enter ${index} ${stage.name} until ${r.stageEndsAt}`),
    finish: () => log.push(`${timers.now()} finish`),
  });
  return { timers, log, run };
}

test('stages are entered in order at their planned times, then the run finishes', () => {
  const { timers, log, run } = harness();
  run.start();
  assert.deepEqual(log, ['10000 enter 0 a until 11000']);
  assert.equal(run.endsAt, 18_000);
  timers.advance(999);
  assert.equal(log.length, 1, 'nothing happens before the stage ends');
  timers.advance(1);
  assert.equal(run.stage.name, 'b');
  timers.advance(10_000);
  assert.deepEqual(log, [
    '10000 enter 0 a until 11000',
    '11000 enter 1 b until 16000',
    '16000 enter 2 c until 18000',
    '18000 finish',
  ]);
  assert.equal(run.state, 'finished');
  assert.equal(timers.size, 0, 'no timer is left behind');
});

test('a late timer does not stretch the plan; a stalled run catches up stage by stage', () => {
  const { timers, log, run } = harness();
  run.start();
  timers.stall(1500); // the event loop was busy when stage a should have ended
  timers.advance(0);
  assert.equal(log[1], '11500 enter 1 b until 16000', 'stage b keeps its planned end');
  timers.stall(10_000);
  timers.advance(0);
  assert.deepEqual(log.slice(2), ['21500 enter 2 c until 18000', '21500 finish']);
});

test('stopping clears the timer: no stage is entered afterwards', () => {
  const { timers, log, run } = harness();
  run.start();
  timers.advance(1000);
  assert.equal(run.stop(), true);
  assert.equal(run.state, 'stopped');
  assert.equal(timers.size, 0);
  timers.advance(60_000);
  assert.equal(log.length, 2);
  assert.equal(run.stop(), false, 'stopping twice reports it was not running');
});

test('a run stopped while entering a stage sets no timer', () => {
  const timers = new FakeClock();
  const run: ScenarioRun = new ScenarioRun(PLAN, 'f', timers, {
    enter: () => run.stop(),
    finish: () => assert.fail('never finishes'),
  });
  run.start();
  assert.equal(run.state, 'stopped');
  assert.equal(timers.size, 0);
});
