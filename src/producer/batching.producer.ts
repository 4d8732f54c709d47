import type { BackpressurePolicy } from '../config/fleetsim.config.js';
import { backoffMs } from './backoff.js';
import { type BreakerState, CircuitBreaker } from './circuit.breaker.js';
import { type DropReason, DeliveryStats } from './delivery.stats.js';
import {
  type OutgoingRecord,
  RECORD_OVERHEAD_BYTES,
  recordBytes,
  releaseValue,
} from './outgoing.record.js';
import { PartitionedQueue, type TakenBatch } from './record.queue.js';
import {
  type BatchSender as Sender,
  type LaneFailure,
  type SendError,
  sendError,
} from './sender.js';

export { type SendError, sendError } from './sender.js';

/**
 * What BatchingProducer needs of a Kafka client (sender.ts describes it): `send` resolves
 * with per-lane outcomes, rejects (with a SendError) only when nothing was written.
 */
export type BatchSender = Pick<Sender, 'topic' | 'partition' | 'prepareTopic' | 'send'> &
  Partial<Pick<Sender, 'acks' | 'producerIdentity' | 'adoptProducerState'>>;

/** A send's rejection as a SendError; anything without the flag is not worth a retry. */
function asSendError(err: unknown): SendError {
  const e = (err instanceof Error ? err : new Error(String(err))) as Partial<SendError> & Error;
  return Object.assign(e, {
    retriable: e.retriable === true,
    type: typeof e.type === 'string' ? e.type : '',
    ambiguous: e.ambiguous === true,
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
  /** Cap of the exponential retry backoff, in ms (default 1000). */
  retryBackoffMaxMs?: number;
  /**
   * Longest from a record's first send attempt to its acknowledgement, in ms (default 120000):
   * past it, a record still not written is failed instead of being tried again.
   */
  deliveryTimeoutMs?: number;
  backpressure: BackpressurePolicy;
  breaker?: { failureThreshold: number; openMs: number; maxOpenMs: number };
}

/** Hooks for metrics; every call is per batch, never per message. */
export interface ProducerObserver {
  batchAcknowledged?(messages: number, bytes: number, latencyMs: number): void;
  /** Records written to the socket with acks=0 (never acknowledged). */
  batchSent?(messages: number, bytes: number): void;
  batchFailed?(messages: number, error: Error, retriable: boolean): void;
  retried?(messages: number): void;
  dropped?(messages: number, reason: DropReason): void;
  breakerChanged?(state: BreakerState): void;
}

/** Consecutive refused sends (nothing acknowledged) past which the producer reports failing. */
export const REFUSALS_FAILING = 3;

/** A batch being sent: what is still pending of it, and whether a request is out now. */
interface Dispatch {
  pending: TakenBatch;
  sending: boolean;
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
  /** Batches being sent (dispatch), booked as unknown or dropped if close() gives up on them. */
  private readonly active = new Set<Dispatch>();
  /** Consecutive sends whose records were all refused for good (none acknowledged). */
  private refusals = 0;
  /** The last refusal's error, while `refusals` > 0. */
  lastRefusal?: string;

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
      // Until the broker reported the configured topic's partition count (-1), records wait.
      const partition =
        this.waiting.size && this.waiting.has('') ? -1 : this.sender.partition(record.hash);
      if (partition < 0) return this.hold(record, '', bytes);
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

  /**
   * Consecutive sends whose every record was refused for good (e.g. not authorized, a topic
   * that cannot be written, delivery timeout): 0 once a record is acknowledged.
   */
  get consecutiveRefusals(): number {
    return this.refusals;
  }

  /** True while every send is refused (REFUSALS_FAILING in a row): readiness is down. */
  get failing(): boolean {
    return this.refusals >= REFUSALS_FAILING;
  }

  private refused(error: Error): void {
    this.refusals++;
    this.lastRefusal = error.message;
  }

  /**
   * Holds a record of a topic the sender does not know yet ('' = the configured one, until
   * connected), and has the topic prepared.
   */
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
  private async prepare(key: string): Promise<void> {
    const topic = key === '' ? undefined : key;
    for (let attempt = 0; !this.stopped; attempt++) {
      try {
        await this.sender.prepareTopic(topic ?? this.sender.topic);
        if (this.sender.partition(0, topic) >= 0) break;
      } catch (err) {
        const retriable = (err as Partial<SendError>).retriable === true;
        if (!retriable) {
          const held = this.waiting.get(key) ?? [];
          this.waiting.delete(key);
          for (const r of held) this.waitingBytes -= recordBytes(r);
          this.stats.queued -= held.length;
          this.stats.failed += held.length;
          for (const r of held) r.receipt?.failed();
          this.observer.batchFailed?.(held.length, err as Error, false);
          this.refused(err as Error);
          this.notifyIdle();
          return;
        }
      }
      await sleep(this.backoff(attempt));
    }
    const held = this.waiting.get(key) ?? [];
    this.waiting.delete(key);
    if (this.stopped) return;
    for (const r of held) {
      const bytes = recordBytes(r);
      this.waitingBytes -= bytes;
      this.place(r);
      this.queue.push(r, bytes);
    }
    this.pump(true);
  }

  /** The capped, jittered delay before try `attempt + 1` (backoff.ts). */
  private backoff(attempt: number): number {
    const o = this.options;
    return backoffMs(attempt, o.retryBackoffMs, o.retryBackoffMaxMs ?? 1000);
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
      // A new client that took over the previous one's producer id and sequence numbers sends
      // the retries exactly as they were: the broker de-duplicates what was written before.
      // Otherwise it numbers batches afresh: retries go back into the queue, in order, and what
      // may have been written already is counted as possibly duplicated.
      if (next.adoptProducerState?.(previous as Sender) !== true) {
        for (const b of this.retries) {
          this.countPossibleDuplicates(b, true);
          b.maybeWritten = undefined;
        }
        for (const b of this.retries.splice(0).reverse()) this.queue.requeue(b);
        this.retryBytes = 0;
      }
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
   * most `timeoutMs`. Then every message is booked for good: what is still queued (or parked
   * and surely not written) is dropped with reason `shutdown`; what is in a request not
   * answered yet, or was in one that got no answer, is `unknown` (it may have been written).
   * Answers that come later change nothing: the books are final.
   */
  async close(timeoutMs: number): Promise<{ flushed: number; dropped: number; unknown: number }> {
    const ackedBefore = this.stats.acknowledged + this.stats.sent + this.stats.failed;
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
    let unknown = 0;
    for (const b of this.retries.splice(0)) {
      const maybe = this.maybeWrittenCount(b);
      unknown += maybe;
      left += b.records.length - maybe;
    }
    this.stats.queued -= unknown;
    this.retryBytes = 0;
    for (const held of this.waiting.values()) left += held.length;
    this.waiting.clear();
    this.waitingBytes = 0;
    this.stats.queued -= left;
    // Sends still out: their records' fate is unknown, unless the batch is between two tries
    // and its lanes were refused (not written) so far.
    let abandoned = 0;
    for (const job of this.active) {
      const n = job.pending.records.length;
      const maybe = job.sending ? n : this.maybeWrittenCount(job.pending);
      this.stats.inFlight -= n;
      unknown += maybe;
      abandoned += n - maybe;
    }
    this.active.clear();
    this.stats.unknown += unknown;
    if (left + abandoned) this.drop(left + abandoned, 'shutdown');
    return {
      flushed: this.stats.acknowledged + this.stats.sent + this.stats.failed - ackedBefore,
      dropped: this.stats.dropped.shutdown,
      unknown: this.stats.unknown,
    };
  }

  /** Records of a batch in lanes whose earlier try may have been written. */
  private maybeWrittenCount(batch: TakenBatch): number {
    const lanes = batch.maybeWritten;
    if (!lanes?.size) return 0;
    let n = 0;
    for (const r of batch.records) if (lanes.has(r.lane ?? r.partition)) n++;
    return n;
  }

  /**
   * Before a batch goes out again: records that may have been written by an earlier try count
   * as possible duplicates unless the broker can de-duplicate them (same idempotent producer
   * id and epoch as that try). `always`: they will be sent under a new producer id.
   */
  private countPossibleDuplicates(batch: TakenBatch, always = false): void {
    if (!batch.maybeWritten?.size) return;
    const now = this.sender.producerIdentity?.();
    if (!always && now !== undefined && now === batch.writtenUnder) return;
    this.stats.possibleDuplicates += this.maybeWrittenCount(batch);
    batch.writtenUnder = now;
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
      if (this.expired(this.retries[0])) {
        const batch = this.retries.shift()!;
        this.retryBytes -= batch.bytes;
        this.stats.queued -= batch.records.length;
        this.stats.inFlight += batch.records.length;
        this.expire(batch);
        continue;
      }
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
   * their own (the others are never re-sent), with capped, jittered exponential backoff, up to
   * `maxRetries`; then `park` keeps them, exactly as they were, to go out first once the
   * circuit lets sends through. Lanes not written `deliveryTimeoutMs` after their first try
   * are failed (`expire`). Once close() gave up waiting it has booked the batch: nothing here
   * touches the books any more.
   */
  private async dispatch(taken: TakenBatch): Promise<void> {
    taken.firstTriedAt ??= Date.now();
    const job: Dispatch = { pending: taken, sending: false };
    this.active.add(job);
    let pending = taken;
    for (let attempt = 0; ; attempt++) {
      this.countPossibleDuplicates(pending);
      const started = performance.now();
      job.sending = true;
      const failures = await this.attempt(pending);
      job.sending = false;
      if (!this.active.has(job)) return; // booked by close()
      const retry = this.settle(pending, failures, started);
      if (!retry) {
        this.breaker.success(); // every lane was answered, even if some were refused
        break;
      }
      job.pending = retry;
      const again = await this.retryNow(retry, attempt);
      if (!this.active.has(job)) return;
      if (this.expired(retry)) {
        this.expire(retry);
        break;
      }
      if (!again) {
        this.park(retry);
        break;
      }
      pending = retry;
    }
    this.active.delete(job);
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
    const retry: TakenBatch = {
      records: [],
      bytes: 0,
      lanes: [],
      firstTriedAt: batch.firstTriedAt,
      writtenUnder: batch.writtenUnder,
    };
    /** Lanes that may have been written by this try or an earlier one. */
    let maybeWritten: Set<number> | undefined;
    /** Records that never reached a broker and now belong to another partition. */
    let reroute: OutgoingRecord[] | undefined;
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
        releaseValue(r);
        continue;
      }
      byError.set(error, (byError.get(error) ?? 0) + 1);
      const lane = r.lane ?? r.partition;
      if (error.retriable && !error.ambiguous && this.moved(r)) {
        (reroute ??= []).push(r);
      } else if (error.retriable) {
        if (error.ambiguous || batch.maybeWritten?.has(lane)) {
          if (error.ambiguous && !maybeWritten?.has(lane)) {
            retry.writtenUnder = this.sender.producerIdentity?.();
          }
          (maybeWritten ??= new Set()).add(lane);
        }
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
    stats.failed += refused;
    if (ok > 0) this.written(ok, okBytes, performance.now() - started);
    else if (refused > 0) this.refused([...byError.keys()].find((e) => !e.retriable)!);
    const done: number[] = [];
    for (const lane of batch.lanes) {
      if (failedLanes.has(lane)) retry.lanes.push(lane);
      else done.push(lane);
    }
    this.queue.release(done);
    if (reroute) this.reroute(reroute);
    retry.maybeWritten = maybeWritten;
    return retry.records.length ? retry : undefined;
  }

  /** Whether a record's partition is no longer the one the sender routes its key to now. */
  private moved(r: OutgoingRecord): boolean {
    const now = this.sender.partition(r.hash, r.topic);
    return now >= 0 && now !== r.partition;
  }

  /**
   * Records that never reached a broker (refused as UNKNOWN_TOPIC_OR_PARTITION, or not sent
   * for want of the partition in the client's metadata) while the partition count changed: they
   * go back to the front of the queue, and the queue is routed again by the new count, each
   * device's records in order.
   */
  private reroute(records: OutgoingRecord[]): void {
    let bytes = 0;
    for (const r of records) bytes += recordBytes(r);
    this.stats.inFlight -= records.length;
    this.stats.queued += records.length;
    this.queue.requeue({ records, bytes, lanes: [] });
    this.queue.repartition((r) => {
      if (this.place(r) < 0) r.lane ??= this.laneOf(r.topic ?? '', r.partition);
    });
  }

  /** Books records Kafka acknowledged (with acks=0: wrote to the socket). */
  private written(messages: number, bytes: number, latencyMs: number): void {
    const stats = this.stats;
    if (this.sender.acks === 0) {
      stats.sent += messages;
      this.observer.batchSent?.(messages, bytes);
    } else {
      stats.acknowledged += messages;
      this.observer.batchAcknowledged?.(messages, bytes, latencyMs);
    }
    stats.batches++;
    stats.bytes += bytes;
    this.refusals = 0;
    this.lastRefusal = undefined;
  }

  /** Whether a batch's first try is `deliveryTimeoutMs` ago or more. */
  private expired(batch: TakenBatch): boolean {
    const timeout = this.options.deliveryTimeoutMs ?? 120_000;
    return batch.firstTriedAt !== undefined && Date.now() - batch.firstTriedAt >= timeout;
  }

  /** Fails (counted, not retried) an in-flight batch not written within deliveryTimeoutMs. */
  private expire(batch: TakenBatch): void {
    const n = batch.records.length;
    const error = sendError(
      `${n} messages not delivered within producer.deliveryTimeoutMs (${this.options.deliveryTimeoutMs ?? 120_000} ms)`,
      false,
      'DELIVERY_TIMEOUT',
    );
    this.stats.inFlight -= n;
    this.stats.failed += n;
    this.observer.batchFailed?.(n, error, false);
    this.refused(error);
    this.queue.release(batch.lanes);
    for (const r of batch.records) r.receipt?.failed();
  }

  /** Books a batch Kafka acknowledged in full. */
  private acknowledged(taken: TakenBatch, latencyMs: number): void {
    const n = taken.records.length;
    this.stats.inFlight -= n;
    this.written(n, taken.bytes, latencyMs);
    this.queue.release(taken.lanes);
    const records = taken.records;
    for (let i = 0; i < n; i++) {
      const r = records[i];
      r.receipt?.delivered();
      releaseValue(r);
    }
  }

  /** A rejected send: nothing was written; the whole batch is retried or refused. */
  private settleAll(taken: TakenBatch, error: SendError): TakenBatch | undefined {
    const n = taken.records.length;
    this.observer.batchFailed?.(n, error, error.retriable);
    if (error.retriable) {
      if (!error.ambiguous) return taken;
      // No answer: every lane may have been written by this try.
      taken.maybeWritten = new Set(taken.lanes);
      taken.writtenUnder = this.sender.producerIdentity?.();
      return taken;
    }
    this.stats.inFlight -= n;
    this.stats.failed += n;
    this.refused(error);
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
    await sleep(this.backoff(attempt));
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
