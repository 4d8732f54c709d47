import type { Clock } from '../../src/model/clock.js';

/** A clock whose time and timers move only when the test says so; for unit tests. */
export class FakeClock implements Clock {
  private pending: Array<{ id: number; at: number; fn: () => void }> = [];
  private nextId = 1;

  constructor(public time = 0) {}

  now(): number {
    return this.time;
  }

  setTimeout(fn: () => void, ms: number): unknown {
    const id = this.nextId++;
    this.pending.push({ id, at: this.time + ms, fn });
    return id;
  }

  clearTimeout(handle: unknown): void {
    this.pending = this.pending.filter((t) => t.id !== handle);
  }

  /** Timers not yet fired. */
  get size(): number {
    return this.pending.length;
  }

  /** Moves time forward by `ms`, firing due timers in order at their own time; returns the new time. */
  advance(ms: number): number {
    const end = this.time + ms;
    for (;;) {
      const due = this.pending
        .filter((t) => t.at <= end)
        .sort((a, b) => a.at - b.at || a.id - b.id)[0];
      if (!due) break;
      this.pending = this.pending.filter((t) => t !== due);
      this.time = Math.max(this.time, due.at);
      due.fn();
    }
    this.time = end;
    return this.time;
  }

  /** Moves time without firing anything, as a busy event loop would. */
  stall(ms: number): void {
    this.time += ms;
  }
}
