import type { Clock } from '../model/clock.js';
import { type ScenarioDefinition, type ScenarioStage, scenarioDuration } from './scenario.js';

/** What a run tells its owner. */
export interface RunEvents {
  /** A stage begins (the first one at `start()`). */
  enter(stage: ScenarioStage, index: number, run: ScenarioRun): void;
  /** The last stage is over. */
  finish(run: ScenarioRun): void;
}

export type RunState = 'running' | 'finished' | 'stopped';

/**
 * One run of a scenario: enters each stage in turn on a timer. Stage boundaries are planned
 * from the start (stage k begins at start + the durations before it), so a late timer does
 * not stretch the plan; a run that fell far behind catches up stage by stage.
 */
export class ScenarioRun {
  state: RunState = 'running';
  stageIndex = -1;
  startedAt = 0;
  stageStartedAt = 0;
  stageEndsAt = 0;
  /** Ids of the anomalies the run injected. */
  readonly anomalyIds: string[] = [];
  private timer: unknown;

  constructor(
    readonly scenario: ScenarioDefinition,
    readonly fleetId: string | undefined,
    private readonly timers: Clock,
    private readonly events: RunEvents,
  ) {}

  get stage(): ScenarioStage {
    return this.scenario.stages[Math.max(0, this.stageIndex)];
  }

  /** When the last stage ends, as planned. */
  get endsAt(): number {
    return this.startedAt + scenarioDuration(this.scenario);
  }

  /** Starts the run, planned from `at` (default now; a late start catches up stage by stage). */
  start(at?: number): void {
    this.startedAt = at ?? this.timers.now();
    this.enter(0, this.startedAt);
  }

  /** Stops the run before its end; false when it was not running. */
  stop(): boolean {
    if (this.state !== 'running') return false;
    this.state = 'stopped';
    this.clearTimer();
    return true;
  }

  private enter(index: number, at: number): void {
    const stage = this.scenario.stages[index];
    this.stageIndex = index;
    this.stageStartedAt = at;
    this.stageEndsAt = at + stage.durationMs;
    this.events.enter(stage, index, this);
    // The owner may have stopped the run while entering the stage.
    if (this.state !== 'running') return;
    this.timer = this.timers.setTimeout(
      () => this.advance(),
      Math.max(0, this.stageEndsAt - this.timers.now()),
    );
  }

  private advance(): void {
    this.timer = undefined;
    if (this.state !== 'running') return;
    const next = this.stageIndex + 1;
    if (next < this.scenario.stages.length) {
      this.enter(next, this.stageEndsAt);
      return;
    }
    this.state = 'finished';
    this.events.finish(this);
  }

  private clearTimer(): void {
    if (this.timer === undefined) return;
    this.timers.clearTimeout(this.timer);
    this.timer = undefined;
  }
}
