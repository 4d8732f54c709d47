/**
 * Kafka record headers shared by many records: built once (per fleet, value format and
 * anomaly kind) and never changed afterwards, so a record carries a reference, not a copy.
 * A sender passes `entries` to its client as they are (header name → value bytes; the order
 * of the names is irrelevant) and must not mutate them.
 */
export interface RecordHeaders {
  readonly entries: Readonly<Record<string, Buffer>>;
  /** Bytes of the names and values, counted in the producer's buffer. */
  readonly bytes: number;
}

/** Shared headers made of these name/value pairs (values UTF-8). */
export function recordHeaders(pairs: Record<string, string>): RecordHeaders {
  const entries: Record<string, Buffer> = {};
  let bytes = 0;
  for (const [name, value] of Object.entries(pairs)) {
    entries[name] = Buffer.from(value, 'utf8');
    bytes += Buffer.byteLength(name) + entries[name].length;
  }
  return Object.freeze({ entries: Object.freeze(entries), bytes });
}

/**
 * Who wants to know what became of a record (a backfill, for its progress and offsets); one
 * object shared by many records. The batching producer calls `delivered` or `failed` once per
 * record that carries it, as its books count the record; a sender that learns offsets calls
 * `offset` for each acknowledged record that carries it (before `delivered`).
 */
export interface RecordReceipt {
  delivered(): void;
  failed(): void;
  offset?(topic: string, partition: number, offset: number): void;
}

/** A serialized reading on its way to Kafka. */
export interface OutgoingRecord {
  /** Kafka key: the device id's UTF-8 bytes, built once per device. */
  key: Buffer;
  /**
   * The buffer the serialized reading is in: its bytes are `slab[valueStart, valueEnd)`. The
   * pipeline writes values one after the other into slabs it shares between records (see
   * ValueSlabs), so a record costs no Buffer object of its own; a record made elsewhere may
   * hold a buffer of its own (`ownValue`). Read it with `recordValue` off the hot path.
   */
  slab: Buffer;
  valueStart: number;
  valueEnd: number;
  /** FNV-1a hash of the key, computed once per device; partition = hash mod partitions. */
  hash: number;
  /**
   * Topic, when not the configured one (`kafka.topic`): a fleet's own topic (topic template)
   * or the label topic. Created on demand with the configured partitions.
   */
  topic?: string;
  /** Partition, set by the producer from the hash when the record is queued. */
  partition: number;
  /** The producer's queue for (topic, partition); set by the producer. */
  lane?: number;
  /** When the reading was scheduled (event time, ms since the epoch). */
  scheduledAt: number;
  /** Headers, shared between records (see RecordHeaders); none when absent. */
  headers?: RecordHeaders;
  /** Told the record's offset once Kafka acknowledged it (shared between records). */
  receipt?: RecordReceipt;
  /**
   * The recycling slab the value holds until `releaseValue` (see ValueSlabs); unset for a
   * value in a slab that is not reused.
   */
  owner?: ValueSlab;
}

/** The value fields of a record whose value is all of `value`. */
export function ownValue(value: Buffer): Pick<OutgoingRecord, 'slab' | 'valueStart' | 'valueEnd'> {
  return { slab: value, valueStart: 0, valueEnd: value.length };
}

/** The record's value as a Buffer (a view of its slab; allocates one: not for the hot path). */
export function recordValue(record: OutgoingRecord): Buffer {
  return record.slab.subarray(record.valueStart, record.valueEnd);
}

/** Bytes a record puts on the wire (key, value and header bytes): what batch sizes count. */
export function recordBytes(record: OutgoingRecord): number {
  return record.key.length + record.valueEnd - record.valueStart + (record.headers?.bytes ?? 0);
}

/** Size of the slabs the pipeline writes values into (ValueSlabs). */
export const VALUE_SLAB_BYTES = 64 * 1024;
/** Most free slabs a recycling ValueSlabs keeps for reuse (the rest are left to the collector). */
const FREE_SLABS = 32;

/**
 * A slab of a recycling ValueSlabs and the values in it still needed: one per value written,
 * until the record that holds it lets go (`releaseValue`).
 */
export class ValueSlab {
  refs = 0;
  /** Whether the writer has moved on to another slab (nothing more is written here). */
  full = false;

  constructor(
    readonly bytes: Buffer,
    readonly owner: ValueSlabs,
  ) {}
}

/**
 * Where the pipeline writes message values: one after the other in slabs of VALUE_SLAB_BYTES,
 * each shared by the records whose values it holds. A value of its own Buffer (Node's pool, as
 * Buffer.allocUnsafe makes) costs a typed-array object per message, ~100 bytes of heap that
 * live as long as the record. After `reserve(n)`, the value goes at `slab[start, start + n)`;
 * `put` copies one there.
 *
 * With `recycle`, a slab is used again once it is full and every value written into it was
 * released (`releaseValue`, which the producer calls when a record is acknowledged, and the
 * pipeline when the producer does not take one): the value bytes stop being garbage, which the
 * collector otherwise frees only once no record in a slab survives, the promoted ones by a full
 * collection. A value that is never released (a record refused, expired, dropped at shutdown)
 * keeps its slab out of reuse, and the collector frees it as without `recycle`: a release can
 * come late or never, but never early, since a slab is written again only when none of its
 * values is held. Without `recycle`, nothing is counted and nothing is written twice.
 */
export class ValueSlabs {
  /** The slab being written (`slab` is its bytes). */
  current: ValueSlab;
  slab: Buffer;
  /** Where the last value reserved starts and ends in `slab`. */
  start = 0;
  end = 0;
  private readonly free: ValueSlab[] = [];

  constructor(readonly recycle = false) {
    this.current = new ValueSlab(Buffer.allocUnsafeSlow(VALUE_SLAB_BYTES), this);
    this.slab = this.current.bytes;
  }

  /**
   * Room for a value of `n` bytes (another slab when this one is short): sets start and end;
   * with `recycle`, the value holds its slab (`current`) until released.
   */
  reserve(n: number): void {
    let at = this.end;
    if (at + n > this.slab.length) {
      const done = this.current;
      done.full = true;
      if (done.refs === 0) this.recycled(done);
      // A value larger than a slab gets a buffer of its own (never reused).
      this.current =
        n <= VALUE_SLAB_BYTES
          ? (this.free.pop() ?? new ValueSlab(Buffer.allocUnsafeSlow(VALUE_SLAB_BYTES), this))
          : new ValueSlab(Buffer.allocUnsafeSlow(n), this);
      this.current.full = false;
      this.slab = this.current.bytes;
      at = 0;
    }
    if (this.recycle) this.current.refs++;
    this.start = at;
    this.end = at + n;
  }

  /** Copies `src[from, to)` in as the next value. */
  put(src: Buffer, from: number, to: number): void {
    this.reserve(to - from);
    src.copy(this.slab, this.start, from, to);
  }

  /** Takes back a full slab none of whose values is held any more. */
  recycled(slab: ValueSlab): void {
    if (this.recycle && slab.bytes.length === VALUE_SLAB_BYTES && this.free.length < FREE_SLABS) {
      this.free.push(slab);
    }
  }
}

/**
 * Lets go of a record's hold on its value's slab (a recycling ValueSlabs' `owner`): call it
 * once the value's bytes are no longer read (acknowledged, or copied elsewhere), at most once
 * per record: it clears `owner`.
 */
export function releaseValue(record: OutgoingRecord): void {
  const slab = record.owner;
  if (slab === undefined) return;
  record.owner = undefined;
  if (--slab.refs === 0 && slab.full) slab.owner.recycled(slab);
}

/**
 * Memory a held record costs beyond its `recordBytes`: the OutgoingRecord object (with its
 * boxed `scheduledAt`), the queue's slot (its ring grows by doubling) and the batch arrays it
 * passes through. Measured on Node 24 (x64) by holding 1,000,000 records built as the pipeline
 * builds them (240-byte values in shared, recycling ValueSlabs): heap and external memory
 * grew by 145 bytes a record beyond the value bytes (249 when each value was a Buffer of its
 * own in Node's pool, as before ValueSlabs; 217 in an earlier measurement). Kept at 256, which
 * leaves room for what a record picks up on its way (a retry's arrays, a stalled lane's copy).
 * `test/unit/producer/buffer.accounting.spec.ts` measures it again and fails if a record ever
 * costs more. The producer counts it against `bufferMemory` for every record queued, held for
 * a topic, parked for a retry or in flight.
 */
export const RECORD_OVERHEAD_BYTES = 256;
