import { type OutgoingRecord, recordBytes, releaseValue } from './outgoing.record.js';

/**
 * A FIFO of records with O(1) push, shift of a run, and unshift of a returned run, kept in a
 * growable ring so a long queue costs no array copying on the hot path.
 */
export class RecordQueue {
  private items: Array<OutgoingRecord | undefined> = new Array(1024);
  private head = 0;
  private count = 0;
  bytes = 0;

  get length(): number {
    return this.count;
  }

  push(record: OutgoingRecord, bytes: number): void {
    if (this.count === this.items.length) this.grow();
    this.items[(this.head + this.count) % this.items.length] = record;
    this.count++;
    this.bytes += bytes;
  }

  /** Takes up to `maxCount` records and about `maxBytes` value bytes (at least one record). */
  take(maxCount: number, maxBytes: number): OutgoingRecord[] {
    const out: OutgoingRecord[] = [];
    let bytes = 0;
    while (this.count > 0 && out.length < maxCount) {
      const rec = this.items[this.head]!;
      const size = recordBytes(rec);
      if (out.length > 0 && bytes + size > maxBytes) break;
      this.items[this.head] = undefined;
      this.head = (this.head + 1) % this.items.length;
      this.count--;
      bytes += size;
      out.push(rec);
    }
    this.bytes -= bytes;
    return out;
  }

  /** Puts records back at the front, in their order (used when a send must be retried later). */
  unshift(records: OutgoingRecord[], bytes: number): void {
    while (this.count + records.length > this.items.length) this.grow();
    for (let i = records.length - 1; i >= 0; i--) {
      this.head = (this.head - 1 + this.items.length) % this.items.length;
      this.items[this.head] = records[i];
      this.count++;
    }
    this.bytes += bytes;
  }

  /** Copies every queued record's value into `arena` (see ValueArena), oldest first. */
  copyOut(arena: ValueArena): void {
    for (let i = 0; i < this.count; i++) {
      arena.move(this.items[(this.head + i) % this.items.length]!);
    }
  }

  /** Empties the queue and returns what it held. */
  clear(): OutgoingRecord[] {
    return this.take(Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER);
  }

  private grow(): void {
    const next = new Array<OutgoingRecord | undefined>(this.items.length * 2);
    for (let i = 0; i < this.count; i++) next[i] = this.items[(this.head + i) % this.items.length];
    this.items = next;
    this.head = 0;
  }
}

/** Size of the slabs a stalled lane copies its records' values into. */
export const STALL_SLAB_BYTES = 16 * 1024;

/**
 * Where a stalled lane's values are copied to. A value the pipeline made is a slice of a slab
 * it shares with the values written before and after it (ValueSlabs; Node's shared buffer
 * pool is the same for Buffer.from and Buffer.allocUnsafe of small sizes), and a slab stays
 * alive while any value in it is referenced: a lane that stalls while the others flow keeps
 * nearly every slab alive for its few records (6 partitions, one stalled: 14.5 MB of slabs
 * held for 2.4 MB of stalled values, buffer.accounting.spec.ts). Copied into slabs of their
 * own lane, a lane's values are released in the order it sends them, so a stalled lane pins
 * at most the slab it fills and the one it sends from (2 × STALL_SLAB_BYTES, which the
 * producer counts against bufferMemory while the lane is stalled).
 */
export class ValueArena {
  private slab = Buffer.allocUnsafeSlow(0);
  private used = 0;

  /** Moves the record's value into this arena (a value alone in its buffer stays). */
  move(record: OutgoingRecord): void {
    const from = record.slab;
    const start = record.valueStart;
    const n = record.valueEnd - start;
    if (start === 0 && from.byteOffset === 0 && from.buffer.byteLength === n) return;
    if (from === this.slab) return; // moved already
    if (n > STALL_SLAB_BYTES / 4) {
      const own = Buffer.allocUnsafeSlow(n);
      from.copy(own, 0, start, start + n);
      record.slab = own;
      record.valueStart = 0;
      record.valueEnd = n;
      releaseValue(record);
      return;
    }
    if (this.used + n > this.slab.length) {
      this.slab = Buffer.allocUnsafeSlow(STALL_SLAB_BYTES);
      this.used = 0;
    }
    from.copy(this.slab, this.used, start, start + n);
    record.slab = this.slab;
    record.valueStart = this.used;
    record.valueEnd = this.used + n;
    this.used += n;
    releaseValue(record); // its bytes are here now: the shared slab may be written again
  }
}

/** A batch taken from a PartitionedQueue. */
export interface TakenBatch {
  records: OutgoingRecord[];
  bytes: number;
  /** Lanes ((topic, partition) queues) the batch holds; they stay muted until released. */
  lanes: number[];
  /** When the batch (or the batch it is what is left of) was first sent (Date.now()). */
  firstTriedAt?: number;
  /** Lanes an earlier try may have written (it got no answer). */
  maybeWritten?: Set<number>;
  /** The producer identity (BatchSender.producerIdentity) of that try. */
  writtenUnder?: string;
}

/**
 * One FIFO per lane: a lane is one (topic, partition), numbered by the producer (with one
 * topic, lane = partition). A partition that has a batch in flight is muted until that batch is
 * answered, so at most one request per partition is ever outstanding: kafkajs encodes and
 * compresses concurrent requests asynchronously and can write them out of order, which would
 * reorder a device's readings within its partition.
 */
export class PartitionedQueue {
  private queues: RecordQueue[] = [];
  private muted: boolean[] = [];
  /** Arenas of the stalled lanes (see stall()); undefined for a lane that flows. */
  private stalled: Array<ValueArena | undefined> = [];
  private stalledCount = 0;
  private rotation = 0;
  length = 0;
  bytes = 0;

  push(record: OutgoingRecord, bytes: number): void {
    const p = record.lane ?? record.partition;
    const q = this.queues[p] ?? this.grow(p);
    if (this.stalledCount !== 0 && this.stalled[p] !== undefined) this.stalled[p].move(record);
    q.push(record, bytes);
    this.length++;
    this.bytes += bytes;
  }

  /** True when some partition has queued records and nothing in flight. */
  get sendable(): boolean {
    for (let p = 0; p < this.queues.length; p++) {
      if (!this.muted[p] && this.queues[p]?.length) return true;
    }
    return false;
  }

  /**
   * Takes up to `maxCount` records and about `maxBytes` bytes from at most `maxPartitions`
   * partitions that are not muted, starting with a different partition each time so none is
   * starved; mutes them.
   */
  take(maxCount: number, maxBytes: number, maxPartitions = Infinity): TakenBatch {
    const records: OutgoingRecord[] = [];
    const lanes: number[] = [];
    let bytes = 0;
    const n = this.queues.length;
    const start = this.rotation++ % Math.max(1, n);
    for (
      let k = 0;
      k < n && records.length < maxCount && bytes < maxBytes && lanes.length < maxPartitions;
      k++
    ) {
      const p = (start + k) % n;
      const q = this.queues[p];
      if (this.muted[p] || !q || q.length === 0) continue;
      const before = q.bytes;
      const part = q.take(maxCount - records.length, maxBytes - bytes);
      for (let i = 0; i < part.length; i++) records.push(part[i]);
      bytes += before - q.bytes;
      this.muted[p] = true;
      lanes.push(p);
    }
    this.length -= records.length;
    this.bytes -= bytes;
    return { records, bytes, lanes };
  }

  /** Partitions that hold queued records. */
  get partitionsWithData(): number {
    let n = 0;
    for (const q of this.queues) if (q?.length) n++;
    return n;
  }

  /** Unmutes the lanes of an answered batch (a stalled lane flows again). */
  release(lanes: number[]): void {
    for (const p of lanes) {
      this.muted[p] = false;
      if (this.stalled[p] !== undefined) {
        this.stalled[p] = undefined;
        this.stalledCount--;
      }
    }
  }

  /**
   * Marks the lanes of a batch whose retries ran out as stalled until they are released: the
   * batch's values, those queued behind it and those pushed while it stays stalled are copied
   * into the lane's own ValueArena, so the stall pins no shared pool slab.
   */
  stall(batch: TakenBatch): void {
    const fresh: number[] = [];
    for (const p of batch.lanes) {
      if (this.stalled[p] !== undefined) continue; // already copied out when it stalled
      this.stalled[p] = new ValueArena();
      this.stalledCount++;
      fresh.push(p);
    }
    if (fresh.length === 0) return;
    // Oldest first: the batch goes out before what is queued behind it.
    for (const r of batch.records) {
      const lane = r.lane ?? r.partition;
      if (fresh.includes(lane)) this.stalled[lane]!.move(r);
    }
    for (const p of fresh) this.queues[p]?.copyOut(this.stalled[p]!);
  }

  /** Memory the stalled lanes' arenas may hold beyond their values' bytes. */
  get reservedBytes(): number {
    return this.stalledCount * 2 * STALL_SLAB_BYTES;
  }

  /** Puts an unsent batch back at the front of its partitions, in order, and unmutes them. */
  requeue(batch: TakenBatch): void {
    const byPartition = new Map<number, OutgoingRecord[]>();
    for (const r of batch.records) {
      const lane = r.lane ?? r.partition;
      const list = byPartition.get(lane);
      if (list) list.push(r);
      else byPartition.set(lane, [r]);
    }
    for (const [p, list] of byPartition) {
      let bytes = 0;
      for (const r of list) bytes += recordBytes(r);
      (this.queues[p] ?? this.grow(p)).unshift(list, bytes);
    }
    this.length += batch.records.length;
    this.bytes += batch.bytes;
    this.release(batch.lanes);
  }

  /**
   * Moves every queued record to the partition (and lane) `place` sets on it, keeping each
   * device's order (a device's records are in one queue, in order, and are re-queued in that
   * order). The records of a muted lane (a batch of it in flight or parked) stay: a device's
   * later records must not overtake its earlier ones; they move when that batch comes back.
   */
  repartition(place: (record: OutgoingRecord) => void): void {
    const all: OutgoingRecord[] = [];
    for (let p = 0; p < this.queues.length; p++) {
      const q = this.queues[p];
      if (!q || this.muted[p] || q.length === 0) continue;
      this.length -= q.length;
      this.bytes -= q.bytes;
      for (const r of q.clear()) all.push(r);
    }
    for (const r of all) {
      place(r);
      this.push(r, recordBytes(r));
    }
  }

  /** Empties every partition and returns how many records were dropped. */
  clear(): number {
    let n = 0;
    for (const q of this.queues) if (q) n += q.clear().length;
    this.length = 0;
    this.bytes = 0;
    this.stalled = [];
    this.stalledCount = 0;
    return n;
  }

  private grow(p: number): RecordQueue {
    for (let i = this.queues.length; i <= p; i++) {
      this.queues.push(new RecordQueue());
      this.muted.push(false);
    }
    return this.queues[p];
  }
}
