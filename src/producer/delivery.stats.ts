export const DROP_REASONS = ['buffer_full', 'shutdown', 'too_large'] as const;
export type DropReason = (typeof DROP_REASONS)[number];

/**
 * The producer's books: the one place their identity is stated. At every moment:
 *
 *     generated = acknowledged + sent + failed + dropped + queued + inFlight + unknown
 *
 * - `acknowledged`: Kafka answered that it wrote the message (acks=1 or acks=-1).
 * - `sent`: written to the broker's socket with acks=0; Kafka never answers, so whether it was
 *   written is not known (it is not counted as acknowledged).
 * - `failed`: refused for good (a non-retriable error) or not delivered within
 *   `producer.deliveryTimeoutMs`.
 * - `dropped`: never sent, by reason (buffer full under the `drop` policy, too large, shutdown).
 * - `queued`: waiting in the producer (or parked after failed attempts, to be sent again).
 * - `inFlight`: in a produce request not answered yet.
 * - `unknown`: still in flight when the producer gave up waiting at shutdown
 *   (`producer.shutdownFlushMs`): they may or may not have been written. Only set by close().
 *
 * `retried` and `possibleDuplicates` are not part of the identity: they count re-sends.
 */
export class DeliveryStats {
  generated = 0;
  acknowledged = 0;
  /** Sent with acks=0: written to the socket, never acknowledged. */
  sent = 0;
  failed = 0;
  dropped: Record<DropReason, number> = { buffer_full: 0, shutdown: 0, too_large: 0 };
  queued = 0;
  inFlight = 0;
  /** In flight when close() stopped waiting: their fate is unknown. */
  unknown = 0;
  /** Messages re-sent after a failed attempt (not part of the identity). */
  retried = 0;
  /**
   * Messages re-sent after an attempt that may have been written (no answer: timeout, lost
   * connection) in a way the broker cannot de-duplicate: without idempotence, or under another
   * producer id than the attempt's (a client swap or renewal, a producer state reset). Each may
   * be in the topic twice (not part of the identity).
   */
  possibleDuplicates = 0;
  /** Produce requests that succeeded. */
  batches = 0;
  /** Value and key bytes acknowledged (or sent, with acks=0). */
  bytes = 0;

  get droppedTotal(): number {
    return this.dropped.buffer_full + this.dropped.shutdown + this.dropped.too_large;
  }

  /** True when the identity holds. */
  balanced(): boolean {
    return (
      this.generated ===
      this.acknowledged +
        this.sent +
        this.failed +
        this.droppedTotal +
        this.queued +
        this.inFlight +
        this.unknown
    );
  }

  snapshot() {
    return {
      generated: this.generated,
      acknowledged: this.acknowledged,
      sent: this.sent,
      failed: this.failed,
      dropped: this.droppedTotal,
      droppedByReason: { ...this.dropped },
      queued: this.queued,
      inFlight: this.inFlight,
      unknown: this.unknown,
      retried: this.retried,
      possibleDuplicates: this.possibleDuplicates,
      batches: this.batches,
      bytes: this.bytes,
      balanced: this.balanced(),
    };
  }
}
