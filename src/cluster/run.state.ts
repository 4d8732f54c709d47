/**
 * Start and stop of the simulation in cluster mode, as the control topic holds it (key
 * `simulation:state`), and the clock it defines for the fleets' schedules.
 *
 * Seq numbers derive from a fleet's schedule (see slots.ts), so the time the simulation stood
 * still must not count as slots. The record carries `pausedMs`, the total time the simulation
 * has been stopped, up to its last start: every anchored schedule runs `pausedMs` behind the
 * wall clock. Fleet records hold their anchors on that paused-time clock (wall time minus
 * `pausedMs`), so one number, in one record, moves every fleet on every member alike.
 */
export interface RunState {
  running: boolean;
  /** Total time the simulation was stopped, up to its last start (ms). */
  pausedMs: number;
  /** While stopped: the wall time it stopped at (the schedules stand there). */
  stoppedAt?: number;
}

/** No record yet: running on the wall clock. */
export const INITIAL_RUN_STATE: RunState = { running: true, pausedMs: 0 };

/** Reads a record's value; records of older versions (`{running}` only) count no pause. */
export function parseRunState(value: unknown): RunState {
  const v = (value ?? {}) as Partial<RunState>;
  const pausedMs = typeof v.pausedMs === 'number' && Number.isFinite(v.pausedMs) ? v.pausedMs : 0;
  if (v.running !== false) return { running: true, pausedMs };
  return typeof v.stoppedAt === 'number' && Number.isFinite(v.stoppedAt)
    ? { running: false, pausedMs, stoppedAt: v.stoppedAt }
    : { running: false, pausedMs };
}

/** The state after a stop at wall time `at` (a stopped state stays as it is). */
export function stopAt(state: RunState, at: number): RunState {
  if (!state.running) return state;
  return { running: false, pausedMs: state.pausedMs, stoppedAt: at };
}

/**
 * The state after a start at wall time `at`: the time since the stop joins `pausedMs`. A
 * running state stays as it is; a stop without a time (an older version's record) adds none.
 */
export function startAt(state: RunState, at: number): RunState {
  if (state.running) return state;
  const stopped = state.stoppedAt === undefined ? 0 : Math.max(0, at - state.stoppedAt);
  return { running: true, pausedMs: state.pausedMs + stopped };
}

/** Wall time at which the schedules stand at wall time `now`: `now`, or the stop time while stopped. */
export function scheduleTime(state: RunState, now: number): number {
  return state.running || state.stoppedAt === undefined ? now : state.stoppedAt;
}

/** A wall-clock anchor as a fleet record holds it (on the paused-time clock). */
export function sharedAnchor(state: RunState, wallMs: number): number {
  return wallMs - state.pausedMs;
}

/** A fleet record's anchor on the wall clock, as the schedules use it. */
export function wallAnchor(state: RunState, sharedMs: number): number {
  return sharedMs + state.pausedMs;
}
