/**
 * Time and timers: wall-clock time in ms since the epoch and one-shot timers. The one seam
 * for time; unit tests pass test/support/fake.clock.ts and move time by hand.
 */
export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/** The injection token of the Clock (Nest providers use `@Inject(CLOCK)`). */
export const CLOCK = Symbol('Clock');

/** Date.now and Node's timers, unreferenced: a pending timer never keeps the process alive. */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms).unref(),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};
