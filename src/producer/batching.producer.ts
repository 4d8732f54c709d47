import type { BackpressurePolicy } from '../config/fleetsim.config.js';
import { type BreakerState, CircuitBreaker } from './circuit.breaker.js';
import { type DropReason, DeliveryStats } from './delivery.stats.js';
import { type OutgoingRecord, RECORD_OVERHEAD_BYTES, recordBytes } from './outgoing.record.js';
import { PartitionedQueue, type TakenBatch } from './record.queue.js';
import type { BatchSender as Sender, LaneFailure, SendError } from './sender.js';

export { type SendError, sendError } from './sender.js';

/**
 * What BatchingProducer needs of a Kafka client (sender.ts describes it): `send` resolves
 * with per-lane outcomes, rejects (with a SendError) only when nothing was written.
 */
export type BatchSender = Pick<Sender, 'topic' | 'partition' | 'prepareTopic' | 'send'>;

/** A send's rejection as a SendError; anything without the flag is not worth a retry. */
function asSendError(err: unknown): SendError {
  const e = (err instanceof Error ? err : new Error(String(err))) as Partial<SendError> & Error;
  return Object.assign(e, {
    retriable: e.retriable === true,
    type: typeof e.type === 'string' ? e.type : '',
  });
}

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
  /** Lane numbers per topic ('' = the configured one) and partition. */
  private readonly lanes = new Map<string, number[]>();
  private nextLane = 0;
  /** Records of topics whose partition count is being learnt, in offer order. */
  private readonly waiting = new Map<string, OutgoingRecord[]>();
  private waitingBytes = 0;

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

  /**
   * Memory held, counted against bufferMemory: the bytes of the records queued, held, parked
   * and in flight, RECORD_OVERHEAD_BYTES for each of them, and the slabs of stalled lanes.
   */
  get bufferedBytes(): number {
    return (
      this.queue.bytes +
      this.retryBytes +
      this.inFlightBytes +
      this.waitingBytes +
      // memory (issue 10 defect 5): per-record objects and stalled lanes' slabs count too.
      RECORD_OVERHEAD_BYTES * (this.stats.queued + this.stats.inFlight) +
      this.queue.reservedBytes
    );
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
    const held = bytes + RECORD_OVERHEAD_BYTES;
    if (this.options.backpressure === 'drop' && this.bufferedBytes + held > this.highWaterBytes) {
      return this.drop(1, 'buffer_full');
    }
    const topic = record.topic;
    if (topic !== undefined) {
      const partition = this.waiting.size && this.waiting.has(topic) ? -1 : this.place(record);
      if (partition < 0) return this.hold(record, topic, bytes);
    } else {
      const partition = this.sender.partition(record.hash);
      record.partition = partition;
      record.lane = this.laneOf('', partition);
    }
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

  /** Sets a record's partition and lane from the sender; returns the partition (-1: unknown). */
  private place(record: OutgoingRecord): number {
    const partition = this.sender.partition(record.hash, record.topic);
    if (partition >= 0) {
      record.partition = partition;
      record.lane = this.laneOf(record.topic ?? '', partition);
    }
    return partition;
  }

  private laneOf(topic: string, partition: number): number {
    let lanes = this.lanes.get(topic);
    if (!lanes) {
      lanes = [];
      this.lanes.set(topic, lanes);
    }
    let lane = lanes[partition];
    if (lane === undefined) {
      lane = this.nextLane++;
      lanes[partition] = lane;
    }
    return lane;
  }

  /** Holds a record of a topic the sender does not know yet, and has the topic prepared. */
  private hold(record: OutgoingRecord, topic: string, bytes: number): true {
    let held = this.waiting.get(topic);
    if (!held) {
      held = [];
      this.waiting.set(topic, held);
      void this.prepare(topic);
    }
    held.push(record);
    this.waitingBytes += bytes;
    this.stats.queued++;
    return true;
  }

  /**
   * Has the sender create or look up `topic`, retrying with backoff while that may succeed,
   * then queues the records held for it in their order. A topic that cannot be had (an
   * error that is not retriable) fails its records.
   */
  private async prepare(topic: string): Promise<void> {
    for (let attempt = 0; !this.stopped; attempt++) {
      try {
        await this.sender.prepareTopic(topic);
        if (this.sender.partition(0, topic) >= 0) break;
      } catch (err) {
        const retriable = (err as Partial<SendError>).retriable === true;
        if (!retriable) {
          const held = this.waiting.get(topic) ?? [];
          this.waiting.delete(topic);
          for (const r of held) this.waitingBytes -= recordBytes(r);
          this.stats.queued -= held.length;
          this.stats.failed += held.length;
          for (const r of held) r.receipt?.failed();
          this.observer.batchFailed?.(held.length, err as Error, false);
          this.notifyIdle();
          return;
        }
      }
      await sleep(Math.min(5000, this.options.retryBackoffMs * 2 ** Math.min(attempt, 10)));
    }
    const held = this.waiting.get(topic) ?? [];
    this.waiting.delete(topic);
    if (this.stopped) return;
    for (const r of held) {
      const bytes = recordBytes(r);
      this.waitingBytes -= bytes;
      this.place(r);
      this.queue.push(r, bytes);
    }
    this.pump(true);
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
      // The new client learns the other topics it will send to first.
      for (const topic of this.lanes.keys()) {
        if (topic !== '') await next.prepareTopic(topic).catch(() => {});
      }
      const previous = this.sender;
      this.sender = next;
      // A new topic may have another partition count: route what is queued by the new one.
      // A new client numbers batches afresh: retries go back into the queue, in order.
      for (const b of this.retries.splice(0).reverse()) this.queue.requeue(b);
      this.retryBytes = 0;
      this.queue.repartition((r) => {
        if (this.place(r) < 0) r.lane ??= this.laneOf(r.topic ?? '', r.partition);
      });
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
    for (const held of this.waiting.values()) left += held.length;
    this.waiting.clear();
    this.waitingBytes = 0;
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
    if (
      this.queue.length === 0 &&
      this.retries.length === 0 &&
      this.waiting.size === 0 &&
      this.inFlightRequests === 0
    ) {
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
   * Sends a taken batch and settles it lane by lane, in named steps: `attempt` (one send; a
   * rejection is every lane's failure), `settle` (acknowledged lanes and lanes refused for good
   * are booked and released at once), then the lanes with a retriable error are sent again on
   * their own (the others are never re-sent), with exponential backoff, up to `maxRetries`;
   * then `park` keeps them, exactly as they were, to go out first once the circuit lets sends
   * through.
   */
  private async dispatch(taken: TakenBatch): Promise<void> {
    let pending = taken;
    for (let attempt = 0; ; attempt++) {
      const started = performance.now();
      const failures = await this.attempt(pending);
      const retry = this.settle(pending, failures, started);
      if (!retry) {
        this.breaker.success(); // every lane was answered, even if some were refused
        break;
      }
      if (!(await this.retryNow(retry, attempt))) {
        this.park(retry);
        break;
      }
      pending = retry;
    }
    this.inFlightBytes -= taken.bytes;
    this.inFlightRequests--;
    this.pump(this.flushing || this.queue.length >= this.options.batchSize);
  }

  /** One send; a rejection (nothing written) is every lane's failure. */
  private async attempt(batch: TakenBatch): Promise<LaneFailure[] | SendError> {
    try {
      return (await this.sender.send(batch.records)).failed;
    } catch (err) {
      return asSendError(err);
    }
  }

  /**
   * Books one attempt's outcome: acknowledged records, records refused for good (failed), and
   * the lanes to try again, returned as a batch of their own (undefined when none).
   */
  private settle(
    batch: TakenBatch,
    failures: LaneFailure[] | SendError,
    started: number,
  ): TakenBatch | undefined {
    const records = batch.records;
    const n = records.length;
    const stats = this.stats;
    if (!Array.isArray(failures)) return this.settleAll(batch, failures);
    let errors: Map<string, SendError> | undefined;
    for (const f of failures) (errors ??= new Map()).set(`${f.topic}\0${f.partition}`, f.error);
    if (!errors) {
      this.acknowledged(batch, performance.now() - started);
      return undefined;
    }
    const configured = this.sender.topic;
    const retry: TakenBatch = { records: [], bytes: 0, lanes: [] };
    /** Records per distinct error, reported once each. */
    const byError = new Map<SendError, number>();
    const failedLanes = new Set<number>();
    let ok = 0;
    let okBytes = 0;
    let refused = 0;
    for (let i = 0; i < n; i++) {
      const r = records[i];
      const error = errors.get(`${r.topic ?? configured}\0${r.partition}`);
      if (!error) {
        ok++;
        okBytes += recordBytes(r);
        r.receipt?.delivered();
        continue;
      }
      byError.set(error, (byError.get(error) ?? 0) + 1);
      const lane = r.lane ?? r.partition;
      if (error.retriable) {
        retry.records.push(r);
        retry.bytes += recordBytes(r);
        failedLanes.add(lane);
      } else {
        refused++;
        r.receipt?.failed();
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
    for (const lane of batch.lanes) {
      if (failedLanes.has(lane)) retry.lanes.push(lane);
      else done.push(lane);
    }
    this.queue.release(done);
    return retry.records.length ? retry : undefined;
  }

  /** Books a batch Kafka acknowledged in full. */
  private acknowledged(taken: TakenBatch, latencyMs: number): void {
    const n = taken.records.length;
    this.stats.inFlight -= n;
    this.stats.acknowledged += n;
    this.stats.batches++;
    this.stats.bytes += taken.bytes;
    this.observer.batchAcknowledged?.(n, taken.bytes, latencyMs);
    this.queue.release(taken.lanes);
    const records = taken.records;
    for (let i = 0; i < n; i++) records[i].receipt?.delivered();
  }

  /** A rejected send: nothing was written; the whole batch is retried or refused. */
  private settleAll(taken: TakenBatch, error: SendError): TakenBatch | undefined {
    const n = taken.records.length;
    this.observer.batchFailed?.(n, error, error.retriable);
    if (error.retriable) return taken;
    this.stats.inFlight -= n;
    this.stats.failed += n;
    this.queue.release(taken.lanes);
    for (const r of taken.records) r.receipt?.failed();
    return undefined;
  }

  /**
   * Counts a failed attempt towards opening the circuit; resolves true when the lanes left
   * are worth another try now (after this attempt's backoff).
   */
  private async retryNow(retry: TakenBatch, attempt: number): Promise<boolean> {
    this.breaker.failure();
    if (attempt >= this.options.maxRetries || this.breaker.state !== 'closed' || this.stopped) {
      return false;
    }
    await sleep(this.options.retryBackoffMs * 2 ** attempt);
    // Another send may have opened the circuit meanwhile: then wait for its probe.
    if (this.breaker.state !== 'closed' || this.stopped) return false;
    this.stats.retried += retry.records.length;
    this.observer.retried?.(retry.records.length);
    return true;
  }

  /** Lanes whose retries ran out wait, as they are, to go out first (or are dropped at stop). */
  private park(batch: TakenBatch): void {
    const n = batch.records.length;
    this.stats.inFlight -= n;
    if (this.stopped) {
      this.drop(n, 'shutdown');
      this.queue.release(batch.lanes);
      return;
    }
    this.stats.queued += n;
    this.stats.retried += n;
    this.observer.retried?.(n);
    this.queue.stall(batch); // memory: a parked lane's values leave the shared pool slabs
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
      this.waiting.size === 0 &&
      this.inFlightRequests === 0 &&
      this.idleWaiters.length
    ) {
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const w of waiters) w();
    }
  }
}
