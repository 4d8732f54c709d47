import { backoffMs } from './backoff.js';

export type BreakerState = 'closed' | 'open' | 'half-open';

export interface CircuitBreakerOptions {
  /** Consecutive failed sends that open the circuit. */
  failureThreshold: number;
  /**
   * First open period in ms; doubles on every failed probe up to `maxOpenMs`, each period
   * jittered by ±20 % (never past `maxOpenMs`).
   */
  openMs: number;
  maxOpenMs: number;
}

/**
 * Stops hammering a broker that is down: after `failureThreshold` consecutive failures the
 * circuit opens; once the open period has passed, one probe is let through (half-open); its
 * success closes the circuit, its failure opens it again for twice as long (capped, jittered:
 * see backoff.ts).
 */
export class CircuitBreaker {
  state: BreakerState = 'closed';
  private failures = 0;
  /** Failed probes since the circuit last closed: the exponent of the open period. */
  private probesFailed = 0;
  private reopenAt = 0;
  private probing = false;
  /** How many times the circuit has opened. */
  opened = 0;

  constructor(
    private readonly options: CircuitBreakerOptions,
    private readonly now: () => number = Date.now,
    private readonly onChange: (state: BreakerState) => void = () => {},
    private readonly random: () => number = Math.random,
  ) {}

  /** Whether a send may start now; in half-open state only one probe at a time. */
  allow(): boolean {
    if (this.state === 'closed') return true;
    if (this.state === 'open') {
      if (this.now() < this.reopenAt) return false;
      this.set('half-open');
    }
    if (this.probing) return false;
    this.probing = true;
    return true;
  }

  /** Ms until a probe may be tried, 0 when sends are allowed. */
  waitMs(): number {
    return this.state === 'open' ? Math.max(0, this.reopenAt - this.now()) : 0;
  }

  success(): void {
    this.failures = 0;
    this.probing = false;
    this.probesFailed = 0;
    if (this.state !== 'closed') this.set('closed');
  }

  failure(): void {
    this.probing = false;
    this.failures++;
    if (this.state === 'half-open') {
      this.probesFailed++;
      this.open();
    } else if (this.state === 'closed' && this.failures >= this.options.failureThreshold) {
      this.open();
    }
  }

  private open(): void {
    const { openMs, maxOpenMs } = this.options;
    this.reopenAt = this.now() + backoffMs(this.probesFailed, openMs, maxOpenMs, this.random);
    this.opened++;
    this.set('open');
  }

  private set(state: BreakerState): void {
    this.state = state;
    this.onChange(state);
  }
}
