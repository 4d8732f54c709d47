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
  /** generated = acknowledged + failed + dropped + queued + inFlight. */
  generated!: number;
  acknowledged!: number;
  failed!: number;
  dropped!: number;
  droppedByReason!: DroppedByReasonDto;
  queued!: number;
  inFlight!: number;
  /** Messages sent again after a failed attempt. */
  retried!: number;
  /** Acknowledged produce requests. */
  batches!: number;
  /** Acknowledged key and value bytes. */
  bytes!: number;
  /** Whether the identity above holds right now. */
  balanced!: boolean;
}
