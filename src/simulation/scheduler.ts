import type { Device, Fleet } from '../model/fleet.js';
import type { Clock } from '../model/clock.js';
import { phaseOrder } from '../model/phase.js';

/**
 * Receives a due reading. Returns false to hold the schedule (backpressure): the reading is
 * not taken and is offered again on the next tick, so the schedule falls behind instead of
 * the buffer growing.
 */
export type ReadingSink = (fleet: Fleet, device: Device, scheduledAt: number) => boolean;

export { phaseOf, phaseOrder } from '../model/phase.js';

class FleetSchedule {
  /** Device ordinals in phase order. */
  order = new Uint32Array(0);
  /** Phases (0 … 1) in the same order. */
  phases = new Float64Array(0);
  /**
   * The fleet's devices in the same order: the tick walks this array in order instead of
   * jumping across `fleet.devices` (rebuilt with the order whenever the fleet is resized).
   */
  devices: Device[] = [];
  /** Position in `order` of the next device due. */
  cursor = 0;
  /** Time the current cycle began. */
  cycleStart: number;

  /**
   * `now`: where a new schedule starts (anchored fleets: the time the schedules stand at,
   * which is the stop time while a cluster's simulation is stopped).
   */
  constructor(
    readonly fleet: Fleet,
    now: number,
  ) {
    this.cycleStart = now;
    this.rebuild();
    // Anchored (cluster mode): a fleet still in its first cycle starts at its top, so slots its
    // record's round trip made late are sent at once and every device begins at seq 0.
    if (fleet.anchorMs !== undefined) this.placeAt(now);
  }

  /**
   * Anchored fleets: puts the schedule at `now` on the shared grid, forwards or back (see
   * position). A fleet still in its first cycle starts at its top.
   */
  placeAt(now: number): void {
    const anchor = this.fleet.anchorMs!;
    this.position(now - anchor < this.fleet.intervalMs ? anchor : now);
  }

  /** Event time of the next slot not yet taken. */
  next(): number {
    return this.cursor >= this.order.length
      ? this.cycleStart + this.fleet.intervalMs
      : this.cycleStart + this.phases[this.cursor] * this.fleet.intervalMs;
  }

  /**
   * Anchored fleets (cluster mode): puts the schedule at `now` on the grid shared by every
   * process: cycle c starts at anchor + c × interval, and the next slot is the first one due
   * at or after `now`.
   */
  position(now: number): void {
    const anchor = this.fleet.anchorMs!;
    const interval = this.fleet.intervalMs;
    const at = Math.max(0, (now - anchor) / interval);
    const cycle = Math.floor(at);
    this.cycleStart = anchor + cycle * interval;
    const fraction = at - cycle;
    let lo = 0;
    let hi = this.phases.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.phases[mid] < fraction) lo = mid + 1;
      else hi = mid;
    }
    this.cursor = lo;
  }

  /** Recomputes the phase order for the fleet's current size, keeping the position in the cycle. */
  rebuild(): void {
    const n = this.fleet.devices.length;
    // A new schedule starts at the top of its cycle; a rebuilt one at the phase it had reached.
    const nextPhase =
      this.phases.length === 0
        ? 0
        : this.cursor < this.phases.length
          ? this.phases[this.cursor]
          : 1;
    const { order, phases } = phaseOrder(n);
    this.order = order;
    this.phases = phases;
    const devices = this.fleet.devices;
    this.devices = Array.from(order, (i) => devices[i]);
    let lo = 0;
    let hi = n;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.phases[mid] < nextPhase) lo = mid + 1;
      else hi = mid;
    }
    this.cursor = lo;
  }

  /** Keeps the position in the cycle when the interval changes. */
  retime(oldInterval: number, newInterval: number, now: number, oldAnchor?: number): void {
    if (this.fleet.anchorMs !== undefined && oldAnchor !== undefined) {
      // The anchor moved with the interval so that the cycle index continues: keep it.
      const cycle = Math.round((this.cycleStart - oldAnchor) / oldInterval);
      this.cycleStart = this.fleet.anchorMs + cycle * newInterval;
      return;
    }
    const fraction = (now - this.cycleStart) / oldInterval;
    this.cycleStart = now - fraction * newInterval;
  }

  /**
   * Puts the next due device at `now` (after a pause), keeping the position in the cycle.
   * Anchored fleets (cluster mode) keep their place on the shared grid: the cluster moved
   * their anchor by the time the simulation was stopped, so the next slot is about due now;
   * only a schedule more than `withinMs` behind (a stop that moved nothing) jumps to `now`.
   */
  rebase(now: number, withinMs: number): void {
    if (this.fleet.anchorMs !== undefined) {
      if (this.next() < now - withinMs) this.position(now);
      return;
    }
    const phase = this.cursor < this.phases.length ? this.phases[this.cursor] : 1;
    this.cycleStart = now - phase * this.fleet.intervalMs;
  }
}

export interface TickResult {
  emitted: number;
  /** True when the sink held the schedule (backpressure). */
  held: boolean;
  /** Lateness of the oldest reading still due after the tick, in ms (0 when caught up). */
  behindMs: number;
  /**
   * True when the tick stopped at its budget (maxPerTick, or the time given as `workUntil`)
   * with readings still due: the running scheduler comes straight back for them.
   */
  cut: boolean;
}

export interface SchedulerOptions {
  tickMs: number;
  /** Most readings taken in one tick, to keep the event loop responsive. */
  maxPerTick?: number;
  /**
   * Most wall time, in ms, the running scheduler spends taking readings in one go before it
   * lets timers and I/O (acknowledgements, REST calls) run; it comes straight back (after
   * pending I/O) when readings are still due. Default MAX_TICK_WORK_MS.
   */
  maxTickWorkMs?: number;
  /**
   * Told, once per tick and fleet that had readings due, how late (in seconds) the oldest
   * reading taken was when it was taken: the schedule lag, per tick rather than per reading,
   * because the hot path does nothing per reading that can be done per batch. The readings
   * after it in the same tick were due later, so it is the tick's worst.
   */
  lag?: { observe(seconds: number): void };
}

/**
 * Default SchedulerOptions.maxTickWorkMs: the longest the scheduler holds the event loop in one
 * go, which bounds the event-loop delay that generation adds (the bench's `100k` run).
 */
export const MAX_TICK_WORK_MS = 5;

/**
 * Emits one reading per device per fleet interval, each device at its own phase of the
 * interval so a fleet of N devices at interval T produces N/T readings a second, evenly.
 * Readings keep their scheduled time (event time); when the process falls behind, readings
 * leave late rather than being skipped, and `behindMs` says by how much.
 */
export class Scheduler {
  private readonly schedules = new Map<string, FleetSchedule>();
  private timer?: NodeJS.Timeout;
  private immediate?: NodeJS.Immediate;
  private rotation = 0;
  running = false;
  /**
   * Anchored fleets (cluster mode) while the cluster's simulation is stopped: the wall time
   * the schedules stand at (the stop), where a schedule added meanwhile starts.
   */
  pausedAt?: number;
  /**
   * Anchored fleets: at a start, a schedule that stands more than this behind now jumps to
   * now (its slots since are skipped) instead of sending them late; see FleetSchedule.rebase.
   */
  resumeWithinMs = 0;

  constructor(
    private readonly clock: Clock,
    private readonly sink: ReadingSink,
    private options: SchedulerOptions,
  ) {}

  setTickMs(tickMs: number): void {
    this.options = { ...this.options, tickMs };
  }

  add(fleet: Fleet): void {
    const now = this.clock.now();
    const at = fleet.anchorMs !== undefined && this.pausedAt !== undefined ? this.pausedAt : now;
    this.schedules.set(fleet.id, new FleetSchedule(fleet, at));
  }

  remove(fleetId: string): void {
    this.schedules.delete(fleetId);
  }

  /** Call after the fleet's device count changed. */
  resized(fleet: Fleet): void {
    this.schedules.get(fleet.id)?.rebuild();
  }

  /** Call with the old interval (and, for anchored fleets, the old anchor) after the fleet's interval changed. */
  retimed(fleet: Fleet, oldIntervalMs: number, oldAnchorMs?: number): void {
    this.schedules
      .get(fleet.id)
      ?.retime(oldIntervalMs, fleet.intervalMs, this.clock.now(), oldAnchorMs);
  }

  /** Event time of the fleet's next slot not yet taken (everything before it was offered). */
  nextDue(fleetId: string): number | undefined {
    return this.schedules.get(fleetId)?.next();
  }

  /**
   * Anchored fleets: moves every schedule by `deltaMs`, keeping its place in the cycle (the
   * cluster moved the fleets' anchors by as much: the next slot keeps its seq).
   */
  shift(deltaMs: number): void {
    if (deltaMs === 0) return;
    for (const s of this.schedules.values()) {
      if (s.fleet.anchorMs !== undefined) s.cycleStart += deltaMs;
    }
  }

  /**
   * Anchored fleets: a schedule more than `resumeWithinMs` behind `now` jumps to `now` (as at
   * a start), for a running scheduler whose schedules the cluster moved.
   */
  realign(now = this.clock.now()): void {
    for (const s of this.schedules.values()) {
      if (s.fleet.anchorMs !== undefined) s.rebase(now, this.resumeWithinMs);
    }
  }

  /**
   * Anchored fleets: puts every schedule at `at`, forwards or back, as a schedule added at `at`
   * would stand (a process that has produced nothing learns where the schedules stand from the
   * control topic; see ClusterService.applyRun).
   */
  placeAt(at: number): void {
    for (const s of this.schedules.values()) {
      if (s.fleet.anchorMs !== undefined) s.placeAt(at);
    }
  }

  /**
   * Anchored fleets: puts every schedule that stands after `at` back at `at` (a process that
   * has not produced anything learns, from the control topic, where the schedules stopped).
   */
  holdAt(at: number): void {
    for (const s of this.schedules.values()) {
      if (s.fleet.anchorMs !== undefined && s.next() > at) s.position(at);
    }
  }

  /**
   * Takes every reading due by `now`, up to `maxPerTick` readings and, when `workUntil` is
   * given, until `performance.now()` passes it (checked every 256 readings).
   */
  tick(now = this.clock.now(), workUntil = Infinity): TickResult {
    let emitted = 0;
    let held = false;
    let cut = false;
    let budget = this.options.maxPerTick ?? 50_000;
    const lag = this.options.lag;
    const all = [...this.schedules.values()];
    // Start with a different fleet each tick so a budget cut is fair.
    const start = all.length ? this.rotation++ % all.length : 0;
    outer: for (let k = 0; k < all.length; k++) {
      const s = all[(start + k) % all.length];
      const fleet = s.fleet;
      const n = s.order.length;
      if (n === 0) continue;
      const interval = fleet.intervalMs;
      const devices = s.devices;
      let taken = 0;
      for (;;) {
        if (s.cursor >= n) {
          s.cursor = 0;
          s.cycleStart += interval;
        }
        const due = s.cycleStart + s.phases[s.cursor] * interval;
        if (due > now) break;
        if (budget === 0 || ((emitted & 255) === 255 && performance.now() >= workUntil)) {
          cut = true;
          break outer;
        }
        const takenAt = taken === 0 && lag !== undefined ? this.clock.now() : 0;
        if (!this.sink(fleet, devices[s.cursor], due)) {
          held = true;
          break outer;
        }
        if (taken++ === 0 && lag !== undefined) lag.observe(Math.max(0, takenAt - due) / 1000);
        s.cursor++;
        emitted++;
        budget--;
      }
    }
    return { emitted, held, behindMs: this.behind(now), cut };
  }

  /** How late the most overdue reading is at `now`. */
  behind(now: number): number {
    let worst = 0;
    for (const s of this.schedules.values()) {
      const n = s.order.length;
      if (n === 0) continue;
      const due =
        s.cursor >= n
          ? s.cycleStart + s.fleet.intervalMs
          : s.cycleStart + s.phases[s.cursor] * s.fleet.intervalMs;
      if (now - due > worst) worst = now - due;
    }
    return worst;
  }

  start(onTick?: (result: TickResult) => void): void {
    if (this.running) return;
    this.running = true;
    const now = this.clock.now();
    for (const s of this.schedules.values()) s.rebase(now, this.resumeWithinMs);
    const loop = () => {
      this.immediate = undefined;
      if (!this.running) return;
      const result = this.tick(
        this.clock.now(),
        performance.now() + (this.options.maxTickWorkMs ?? MAX_TICK_WORK_MS),
      );
      onTick?.(result);
      // Come back at once (after pending I/O) when work is left over: the tick stopped at its
      // budget, or the schedule is more than a tick behind. Else at the next tick.
      if (
        !result.held &&
        (result.cut || (result.emitted > 0 && result.behindMs > this.options.tickMs))
      ) {
        this.immediate = setImmediate(loop);
      } else {
        this.timer = setTimeout(loop, this.options.tickMs);
      }
    };
    this.timer = setTimeout(loop, 0);
  }

  stop(): void {
    this.running = false;
    clearTimeout(this.timer);
    if (this.immediate) clearImmediate(this.immediate);
    this.immediate = undefined;
  }
}
