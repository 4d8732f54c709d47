export class DroppedByReasonDto {
  /** Dropped because the buffer was past 80 % under the drop policy. */
  buffer_full!: number;
  /** Still queued when the shutdown flush time ran out. */
  shutdown!: number;
  /** Larger than batchBytes. */
  too_large!: number;
}

export class ProducerStatusDto {
  topic!: string;
  /** Partition count of the topic as last read. */
  partitions!: number;
  connected!: boolean;
  /** Circuit breaker: closed, open or half-open. */
  circuit!: string;
  bufferedBytes!: number;
  bufferMemory!: number;
  backpressure!: string;
  /** False once the buffer is past 80 % of bufferMemory. */
  accepting!: boolean;
  /**
   * Why the producer is not connected, while it is not: the last connection error, naming a
   * security cause (SASL authentication failed for user X, TLS certificate verify failed).
   */
  connectError?: string;
  /**
   * generated = acknowledged + sent + failed + dropped + queued + inFlight + unknown (each term
   * is described in docs/faults.md, "The books").
   */
  generated!: number;
  acknowledged!: number;
  /** Sent with acks=0: written to the socket, never acknowledged by Kafka. */
  sent!: number;
  /** Refused for good, or not delivered within producer.deliveryTimeoutMs. */
  failed!: number;
  dropped!: number;
  droppedByReason!: DroppedByReasonDto;
  queued!: number;
  inFlight!: number;
  /** In flight when the shutdown flush time ran out: may or may not have been written. */
  unknown!: number;
  /** Messages sent again after a failed attempt. */
  retried!: number;
  /**
   * Messages re-sent after an attempt that may have been written, where the broker cannot
   * de-duplicate the copy (no idempotence, or another producer id): each may be in the topic twice.
   */
  possibleDuplicates!: number;
  /**
   * Consecutive produce attempts whose every record was refused for good (e.g. not authorized);
   * readiness is down from 3 on, until a record is acknowledged.
   */
  consecutiveRefusals!: number;
  /** Acknowledged produce requests. */
  batches!: number;
  /** Acknowledged key and value bytes. */
  bytes!: number;
  /** Whether the identity above holds right now. */
  balanced!: boolean;
}
