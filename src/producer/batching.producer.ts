import type { BackpressurePolicy } from '../config/fleetsim.config.js';
import { type BreakerState, CircuitBreaker } from './circuit.breaker.js';
import { type DropReason, DeliveryStats } from './delivery.stats.js';
import { type OutgoingRecord, recordBytes } from './outgoing.record.js';
import { PartitionedQueue, type TakenBatch } from './record.queue.js';
import type { BatchSender as Sender, PartitionFailure, SendError } from './sender.js';

/** What BatchingProducer needs of a Kafka client (sender.ts describes the results). */
export type BatchSender = Pick<Sender, 'partition' | 'send'>;

export interface BatchingOptions {
  batchSize: number;
  batchBytes: number;
  lingerMs: number;
  bufferMemory: number;
  maxInFlightRequests: number;
  maxRetries: number;
  retryBackoffMs: number;
  backpressure: BackpressurePolicy;
  breaker?: { failureThreshold: number; openMs: number; maxOpenMs: number };
}

/** Hooks for metrics; every call is per batch, never per message. */
export interface ProducerObserver {
  batchAcknowledged?(messages: number, bytes: number, latencyMs: number): void;
  batchFailed?(messages: number, error: Error, retriable: boolean): void;
  retried?(messages: number): void;
  dropped?(messages: number, reason: DropReason): void;
  breakerChanged?(state: BreakerState): void;
}

/** Share of `bufferMemory` past which the backpressure policy acts. */
export const HIGH_WATER = 0.8;

/** A send's rejection as a SendError; anything without the flag is not worth a retry. */
function asSendError(err: unknown): SendError {
  const e = (err instanceof Error ? err : new Error(String(err))) as Partial<SendError> & Error;
  return Object.assign(e, {
    retriable: e.retriable === true,
    type: typeof e.type === 'string' ? e.type : 'UNKNOWN',
  });
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Accumulates serialized readings, sends them in batches of up to `batchSize` messages or
 * `batchBytes` bytes (or whatever is there after `lingerMs`), with at most
 * `maxInFlightRequests` sends at once. Retriable failures are retried with exponential
 * backoff; when retries run out the batch goes back to the front of the queue and the circuit
 * breaker counts a failure, so an outage costs buffer space, not data. The buffer is bounded
 * by `bufferMemory` (queued plus in-flight bytes); past 80 % the `backpressure` policy acts.
 */
export class BatchingProducer {
  readonly stats = new DeliveryStats();
  readonly breaker: CircuitBreaker;
  private readonly queue = new PartitionedQueue();
  private inFlightBytes = 0;
  private inFlightRequests = 0;
  private lingerTimer?: NodeJS.Timeout;
  private wakeTimer?: NodeJS.Timeout;
  private flushing = false;
  private closed = false;
  /** Set when close() gave up waiting: nothing more is sent. */
  private stopped = false;
  private idleWaiters: Array<() => void> = [];
  /** Set while setSender() waits for the sends in flight on the previous sender. */
  private swapping?: Promise<BatchSender>;
  private drainWaiters: Array<() => void> = [];
  /**
   * Batches whose send failed, waiting to be sent again exactly as they were: the idempotent
   * producer numbers a batch once, and a retry with other records after an ambiguous failure
   * would be refused as out of order. Their partitions stay muted meanwhile.
   */
  private readonly retries: TakenBatch[] = [];
  private retryBytes = 0;
  private highWaterBytes: number;

  constructor(
    private sender: BatchSender,
    private options: BatchingOptions,
    private readonly observer: ProducerObserver = {},
  ) {
    this.highWaterBytes = options.bufferMemory * HIGH_WATER;
    this.breaker = new CircuitBreaker(
      options.breaker ?? { failureThreshold: 3, openMs: 500, maxOpenMs: 5_000 },
      Date.now,
      (state) => {
        observer.breakerChanged?.(state);
        if (state === 'open') this.scheduleWake();
      },
    );
  }

  /** Bytes held: queued plus in flight. */
  get bufferedBytes(): number {
    return this.queue.bytes + this.retryBytes + this.inFlightBytes;
  }

  /**
   * False once the buffer is past its high-water mark. Under the `block` policy the scheduler
   * checks this before generating a reading, so it slows down instead of growing memory.
   */
  get accepting(): boolean {
    return !this.closed && this.bufferedBytes < this.highWaterBytes;
  }

  /** Takes a reading. Under `drop` past the high-water mark it is dropped and counted. */
  offer(record: OutgoingRecord): boolean {
    const stats = this.stats;
    stats.generated++;
    const bytes = recordBytes(record);
    if (this.closed) return this.drop(1, 'shutdown');
    if (bytes > this.options.batchBytes) return this.drop(1, 'too_large');
    if (this.options.backpressure === 'drop' && this.bufferedBytes + bytes > this.highWaterBytes) {
      return this.drop(1, 'buffer_full');
    }
    record.partition = this.sender.partition(record.hash);
    this.queue.push(record, bytes);
    stats.queued++;
    if (
      this.queue.length >= this.options.batchSize ||
      this.queue.bytes >= this.options.batchBytes
    ) {
      this.pump(true);
    } else if (!this.lingerTimer) {
      this.lingerTimer = setTimeout(() => {
        this.lingerTimer = undefined;
        this.pump(true);
      }, this.options.lingerMs);
    }
    return true;
  }

  /** Changes batching settings in place; queued and in-flight messages are kept. */
  reconfigure(options: BatchingOptions): void {
    this.options = options;
    this.highWaterBytes = options.bufferMemory * HIGH_WATER;
    this.pump(true);
  }

  /**
   * Hands the queue over to `next` (a Kafka client built with other settings). No new send
   * starts until every send in flight on the current sender is answered, so one device's
   * messages never race on two connections; then `next` takes over. The queue and the books
   * stay one, so nothing is lost or counted twice. Resolves with the previous sender, which
   * the caller closes.
   */
  async setSender(next: BatchSender): Promise<BatchSender> {
    while (this.swapping) await this.swapping.catch(() => {});
    const swap = (async () => {
      if (this.inFlightRequests > 0) {
        await new Promise<void>((resolve) => this.drainWaiters.push(resolve));
      }
      const previous = this.sender;
      this.sender = next;
      // A new topic may have another partition count: route what is queued by the new one.
      // A new client numbers batches afresh: retries go back into the queue, in order.
      for (const b of this.retries.splice(0).reverse()) this.queue.requeue(b);
      this.retryBytes = 0;
      this.queue.repartition((r) => next.partition(r.hash));
      return previous;
    })();
    this.swapping = swap;
    try {
      return await swap;
    } finally {
      this.swapping = undefined;
      this.pump(true);
    }
  }

  /**
   * Stops taking new readings, sends what is queued and waits for in-flight sends, for at
   * most `timeoutMs`. What is still queued then is dropped with reason `shutdown`.
   */
  async close(timeoutMs: number): Promise<{ flushed: number; dropped: number }> {
    const ackedBefore = this.stats.acknowledged + this.stats.failed;
    this.closed = true;
    this.flushing = true;
    this.pump(true);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      this.idle(),
      new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs))),
    ]);
    clearTimeout(timer);
    this.stopped = true;
    clearTimeout(this.lingerTimer);
    clearTimeout(this.wakeTimer);
    let left = this.queue.clear();
    for (const b of this.retries.splice(0)) left += b.records.length;
    this.retryBytes = 0;
    this.stats.queued -= left;
    if (left) this.drop(left, 'shutdown');
    return {
      flushed: this.stats.acknowledged + this.stats.failed - ackedBefore,
      dropped: this.stats.dropped.shutdown,
    };
  }

  /** Sends everything queued now, ignoring linger, and resolves when nothing is left. */
  async flush(): Promise<void> {
    this.flushing = true;
    this.pump(true);
    await this.idle();
    this.flushing = false;
  }

  /** Resolves when nothing is queued or in flight. */
  idle(): Promise<void> {
    if (this.queue.length === 0 && this.retries.length === 0 && this.inFlightRequests === 0) {
      return Promise.resolve();
    }
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private drop(messages: number, reason: DropReason): false {
    this.stats.dropped[reason] += messages;
    this.observer.dropped?.(messages, reason);
    return false;
  }

  private scheduleWake(): void {
    clearTimeout(this.wakeTimer);
    this.wakeTimer = setTimeout(() => this.pump(true), Math.max(1, this.breaker.waitMs()));
  }

  /** Starts as many sends as the in-flight limit, the breaker and the batch rules allow. */
  private pump(force: boolean): void {
    if (this.stopped) return this.notifyIdle();
    const o = this.options;
    while (this.inFlightRequests < o.maxInFlightRequests && this.retries.length && !this.swapping) {
      if (!this.breaker.allow()) {
        if (this.breaker.state === 'open') this.scheduleWake();
        return this.notifyIdle();
      }
      const batch = this.retries.shift()!;
      this.retryBytes -= batch.bytes;
      this.stats.queued -= batch.records.length;
      this.stats.inFlight += batch.records.length;
      this.inFlightBytes += batch.bytes;
      this.inFlightRequests++;
      void this.dispatch(batch);
    }
    while (this.inFlightRequests < o.maxInFlightRequests && this.queue.sendable && !this.swapping) {
      const full = this.queue.length >= o.batchSize || this.queue.bytes >= o.batchBytes;
      if (!full && !force && !this.flushing) break;
      if (!this.breaker.allow()) {
        if (this.breaker.state === 'open') this.scheduleWake();
        break;
      }
      // Spread the partitions over the requests the in-flight limit allows, so one request
      // does not mute every partition while the others could be in flight.
      const share = Math.max(1, Math.ceil(this.queue.partitionsWithData / o.maxInFlightRequests));
      const batch = this.queue.take(o.batchSize, o.batchBytes, share);
      this.stats.queued -= batch.records.length;
      this.stats.inFlight += batch.records.length;
      this.inFlightBytes += batch.bytes;
      this.inFlightRequests++;
      void this.dispatch(batch);
      force = this.flushing;
    }
    // Muted partitions are picked up when their batch is answered (dispatch pumps again).
    if (this.queue.sendable && !this.lingerTimer && this.breaker.state === 'closed') {
      this.lingerTimer = setTimeout(() => {
        this.lingerTimer = undefined;
        this.pump(true);
      }, o.lingerMs);
    }
    this.notifyIdle();
  }

  /**
   * Sends a batch and settles it partition by partition: acknowledged and non-retriable
   * partitions are counted and released at once; partitions with a retriable error are sent
   * again on their own (the others are never re-sent), with exponential backoff, up to
   * `maxRetries`; then they wait, exactly as they were, at the front of the queue for the
   * circuit to let sends through.
   */
  private async dispatch(taken: TakenBatch): Promise<void> {
    let pending = taken;
    let attempt = 0;
    for (;;) {
      const started = performance.now();
      const failures = await this.attempt(pending);
      const retry = this.settle(pending, failures, started);
      if (!retry) {
        this.breaker.success(); // every partition was answered, even if some were refused
        break;
      }
      // Every failed attempt counts towards opening the circuit.
      this.breaker.failure();
      if (attempt < this.options.maxRetries && this.breaker.state === 'closed' && !this.stopped) {
        attempt++;
        await sleep(this.options.retryBackoffMs * 2 ** (attempt - 1));
        // Another send may have opened the circuit meanwhile: then wait for its probe.
        if (this.breaker.state === 'closed' && !this.stopped) {
          this.stats.retried += retry.records.length;
          this.observer.retried?.(retry.records.length);
          pending = retry;
          continue;
        }
      }
      this.park(retry);
      break;
    }
    this.inFlightBytes -= taken.bytes;
    this.inFlightRequests--;
    this.pump(this.flushing || this.queue.length >= this.options.batchSize);
  }

  /** One send; a rejection (nothing written) is every partition's failure. */
  private async attempt(batch: TakenBatch): Promise<PartitionFailure[]> {
    try {
      return (await this.sender.send(batch.records)).failed;
    } catch (err) {
      const error = asSendError(err);
      return batch.partitions.map((partition) => ({ partition, error }));
    }
  }

  /**
   * Books one attempt's outcome: acknowledged records, records refused for good (failed), and
   * the partitions to try again, returned as a batch of their own (undefined when none).
   */
  private settle(
    batch: TakenBatch,
    failures: PartitionFailure[],
    started: number,
  ): TakenBatch | undefined {
    const errors = new Map<number, SendError>();
    for (const f of failures)
      if (batch.partitions.includes(f.partition)) errors.set(f.partition, f.error);
    const stats = this.stats;
    if (errors.size === 0) {
      stats.inFlight -= batch.records.length;
      stats.acknowledged += batch.records.length;
      stats.batches++;
      stats.bytes += batch.bytes;
      this.observer.batchAcknowledged?.(
        batch.records.length,
        batch.bytes,
        performance.now() - started,
      );
      this.queue.release(batch.partitions);
      return undefined;
    }
    const retry: TakenBatch = { records: [], bytes: 0, partitions: [] };
    /** Records per distinct error, reported once each. */
    const byError = new Map<SendError, number>();
    let ok = 0;
    let okBytes = 0;
    let refused = 0;
    for (const r of batch.records) {
      const error = errors.get(r.partition);
      if (!error) {
        ok++;
        okBytes += recordBytes(r);
      } else {
        byError.set(error, (byError.get(error) ?? 0) + 1);
        if (error.retriable) {
          retry.records.push(r);
          retry.bytes += recordBytes(r);
        } else {
          refused++;
        }
      }
    }
    for (const [error, messages] of byError) {
      this.observer.batchFailed?.(messages, error, error.retriable);
    }
    stats.inFlight -= ok + refused;
    stats.acknowledged += ok;
    stats.failed += refused;
    if (ok > 0) {
      stats.batches++;
      stats.bytes += okBytes;
      this.observer.batchAcknowledged?.(ok, okBytes, performance.now() - started);
    }
    const done: number[] = [];
    for (const p of batch.partitions) {
      if (errors.get(p)?.retriable) retry.partitions.push(p);
      else done.push(p);
    }
    this.queue.release(done);
    return retry.records.length ? retry : undefined;
  }

  /** A batch whose retries ran out waits, as it is, to go out first (or is dropped at stop). */
  private park(batch: TakenBatch): void {
    const n = batch.records.length;
    this.stats.inFlight -= n;
    if (this.stopped) {
      this.drop(n, 'shutdown');
      this.queue.release(batch.partitions);
      return;
    }
    this.stats.queued += n;
    this.stats.retried += n;
    this.observer.retried?.(n);
    this.retries.push(batch);
    this.retryBytes += batch.bytes;
  }

  private notifyIdle(): void {
    if (this.inFlightRequests === 0 && this.drainWaiters.length) {
      const waiters = this.drainWaiters;
      this.drainWaiters = [];
      for (const w of waiters) w();
    }
    if (
      this.queue.length === 0 &&
      this.retries.length === 0 &&
      this.inFlightRequests === 0 &&
      this.idleWaiters.length
    ) {
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const w of waiters) w();
    }
  }
}
