export const DROP_REASONS = ['buffer_full', 'shutdown', 'too_large'] as const;
export type DropReason = (typeof DROP_REASONS)[number];

/**
 * The producer's books. At every moment:
 * generated = acknowledged + failed + dropped + queued + inFlight.
 */
export class DeliveryStats {
  generated = 0;
  acknowledged = 0;
  failed = 0;
  dropped: Record<DropReason, number> = { buffer_full: 0, shutdown: 0, too_large: 0 };
  queued = 0;
  inFlight = 0;
  /** Messages re-sent after a failed attempt (not part of the identity). */
  retried = 0;
  /** Produce requests that succeeded. */
  batches = 0;
  /** Value and key bytes acknowledged. */
  bytes = 0;

  get droppedTotal(): number {
    return this.dropped.buffer_full + this.dropped.shutdown + this.dropped.too_large;
  }

  /** True when the identity holds. */
  balanced(): boolean {
    return (
      this.generated ===
      this.acknowledged + this.failed + this.droppedTotal + this.queued + this.inFlight
    );
  }

  snapshot() {
    return {
      generated: this.generated,
      acknowledged: this.acknowledged,
      failed: this.failed,
      dropped: this.droppedTotal,
      droppedByReason: { ...this.dropped },
      queued: this.queued,
      inFlight: this.inFlight,
      retried: this.retried,
      batches: this.batches,
      bytes: this.bytes,
      balanced: this.balanced(),
    };
  }
}
