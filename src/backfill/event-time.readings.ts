import type { Device, Fleet } from '../model/fleet.js';
import { phaseOrder } from '../simulation/scheduler.js';

/**
 * The readings a fleet makes with event times in [from, to), in event-time order, lazily: the
 * same times the live scheduler gives a fleet whose cycle starts at `from` (each device at its
 * phase of the interval, cycle after cycle), with O(devices) memory however long the range.
 */
export class EventTimeReadings {
  private readonly order: Uint32Array;
  private readonly phases: Float64Array;
  private readonly interval: number;
  private cursor = 0;
  private cycleStart: number;
  /** The device and event time of the current reading (after `advance()` returned true). */
  device!: Device;
  ts = 0;

  constructor(
    private readonly fleet: Fleet,
    readonly from: number,
    readonly to: number,
  ) {
    ({ order: this.order, phases: this.phases } = phaseOrder(fleet.devices.length));
    this.interval = fleet.intervalMs;
    this.cycleStart = from;
  }

  /** Readings in the range: per device, the event times from + (phase + k) × interval < to. */
  get total(): number {
    let n = 0;
    const span = this.to - this.from;
    for (let j = 0; j < this.phases.length; j++) {
      const first = this.phases[j] * this.interval;
      if (first < span) n += Math.ceil((span - first) / this.interval);
    }
    return n;
  }

  /** Event time of the next reading, without taking it (Infinity when none is left). */
  peek(): number {
    if (this.phases.length === 0) return Infinity;
    let cursor = this.cursor;
    let start = this.cycleStart;
    if (cursor >= this.phases.length) {
      cursor = 0;
      start += this.interval;
    }
    const due = start + this.phases[cursor] * this.interval;
    return due < this.to ? due : Infinity;
  }

  /** Moves to the next reading; false when the range is done. */
  advance(): boolean {
    const n = this.phases.length;
    if (n === 0) return false;
    if (this.cursor >= n) {
      this.cursor = 0;
      this.cycleStart += this.interval;
    }
    // The same expression as the scheduler's, so the times are bit for bit the live ones.
    const due = this.cycleStart + this.phases[this.cursor] * this.interval;
    if (due >= this.to) return false;
    this.device = this.fleet.devices[this.order[this.cursor]];
    this.ts = due;
    this.cursor++;
    return true;
  }
}
