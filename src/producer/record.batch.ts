import {
  compressionsAlgorithms,
  crc32c,
  produceV9,
  produceV10,
  produceV11,
  Writer,
} from '@platformatic/kafka';
import type { CompressionName } from '../config/fleetsim.config.js';
import type { OutgoingRecord, RecordHeaders } from './outgoing.record.js';

/**
 * Kafka's produce request for @platformatic/kafka, written by fleetsim: every record of a
 * partition goes straight into one RecordBatch buffer (magic 2), keys and values copied once.
 * The library's own encoder builds each record from a dozen tiny Buffers (one per field) and
 * concatenates them, which the CPU profile of a flat-out run showed as half of the server's
 * time (Buffer.concat, its record writer, and the garbage they leave). The batch is the one the
 * library writes, byte for byte: create-time timestamps of the request's time (deltas 0),
 * offset deltas 0 … n-1, the records' shared headers in their order, producer id, epoch and
 * first sequence when idempotent (-1, 0, 0 otherwise), partition leader epoch 0, CRC-32C (the
 * library's) over attributes … records, compressed with the library's codecs.
 */

/** A partition's records in one request, and the sequence number of its first record. */
export interface BatchLane {
  topic: string;
  partition: number;
  records: OutgoingRecord[];
  /** Idempotent producer: the lane's next sequence number; 0 otherwise. */
  firstSequence: number;
}

export interface BatchOptions {
  compression: CompressionName;
  /** The idempotent producer's id and epoch; none: -1 and 0. */
  producerId?: bigint;
  producerEpoch?: number;
}

type ProduceParser = typeof produceV11.parseResponse;

/** Response parsers of the Produce versions whose request this module writes (flexible, 9 … 11). */
const PARSERS: Readonly<Record<number, ProduceParser | undefined>> = {
  9: produceV9.parseResponse as unknown as ProduceParser,
  10: produceV10.parseResponse as unknown as ProduceParser,
  11: produceV11.parseResponse,
};

/** The response parser of Produce `version`, or undefined when this module cannot write it. */
export function produceParser(version: number): ProduceParser | undefined {
  return PARSERS[version];
}

/** Bytes of the zigzag varint of a 32-bit signed n. */
function varIntSize(n: number): number {
  let v = ((n << 1) ^ (n >> 31)) >>> 0;
  let size = 1;
  while (v >= 0x80) {
    v >>>= 7;
    size++;
  }
  return size;
}

/** Writes the zigzag varint of a 32-bit signed n at `pos`; returns the position after it. */
function writeVarInt(buf: Buffer, pos: number, n: number): number {
  let v = ((n << 1) ^ (n >> 31)) >>> 0;
  while (v >= 0x80) {
    buf[pos++] = (v & 0x7f) | 0x80;
    v >>>= 7;
  }
  buf[pos++] = v;
  return pos;
}

/** A record without headers: a header count of 0. */
const NO_HEADERS = Buffer.from([0]);

/** Shared headers as a record carries them (count, then name and value with their lengths), once each. */
const encodedHeaders = new WeakMap<RecordHeaders, Buffer>();
export function headerBytes(headers: RecordHeaders | undefined): Buffer {
  if (!headers) return NO_HEADERS;
  let out = encodedHeaders.get(headers);
  if (!out) {
    const entries = Object.entries(headers.entries).map(
      ([name, value]) => [Buffer.from(name, 'utf8'), value] as const,
    );
    let size = varIntSize(entries.length);
    for (const [name, value] of entries) {
      size += varIntSize(name.length) + name.length + varIntSize(value.length) + value.length;
    }
    out = Buffer.alloc(size);
    let pos = writeVarInt(out, 0, entries.length);
    for (const [name, value] of entries) {
      pos = writeVarInt(out, pos, name.length);
      out.set(name, pos);
      pos = writeVarInt(out, pos + name.length, value.length);
      out.set(value, pos);
      pos += value.length;
    }
    encodedHeaders.set(headers, out);
  }
  return out;
}

/** baseOffset … recordsCount: the fixed part of a RecordBatch before its records. */
const BATCH_HEADER_BYTES = 61;
/** Where the CRC-32C'd part (attributes … records) starts. */
const CRC_START = 21;

/**
 * The records of a lane as a RecordBatch's records section, appended after `offset` bytes
 * left free for the batch header. Each record: length, attributes 0, timestamp delta 0,
 * offset delta, key, value, headers.
 */
function writeRecords(records: OutgoingRecord[], offset: number, space?: EncodeSpace): Buffer {
  const n = records.length;
  // Sizes first, so the batch is one allocation. Records share a few headers objects, mostly
  // in runs: the last one's encoding is kept at hand.
  let lastHeaders: RecordHeaders | undefined;
  let headers: Buffer = NO_HEADERS;
  let total = offset;
  for (let i = 0; i < n; i++) {
    const r = records[i];
    if (r.headers !== lastHeaders) {
      lastHeaders = r.headers;
      headers = headerBytes(lastHeaders);
    }
    const k = r.key.length;
    const v = r.valueEnd - r.valueStart;
    const body = 2 + varIntSize(i) + varIntSize(k) + k + varIntSize(v) + v + headers.length;
    total += varIntSize(body) + body;
  }
  const buf = space ? space.alloc(total) : Buffer.allocUnsafe(total);
  lastHeaders = undefined;
  headers = NO_HEADERS;
  let pos = offset;
  for (let i = 0; i < n; i++) {
    const r = records[i];
    if (r.headers !== lastHeaders) {
      lastHeaders = r.headers;
      headers = headerBytes(lastHeaders);
    }
    const key = r.key;
    const k = key.length;
    const v = r.valueEnd - r.valueStart;
    const body = 2 + varIntSize(i) + varIntSize(k) + k + varIntSize(v) + v + headers.length;
    pos = writeVarInt(buf, pos, body);
    buf[pos++] = 0; // attributes
    buf[pos++] = 0; // timestamp delta
    pos = writeVarInt(buf, pos, i);
    pos = writeVarInt(buf, pos, k);
    buf.set(key, pos);
    pos = writeVarInt(buf, pos + k, v);
    r.slab.copy(buf, pos, r.valueStart, r.valueEnd);
    pos += v;
    if (headers.length === 1) buf[pos++] = headers[0];
    else {
      buf.set(headers, pos);
      pos += headers.length;
    }
  }
  return buf;
}

/** Writes a whole number below 2^53 (or -1) as a big-endian int64 at `at`, without a BigInt. */
function writeInt64(buf: Buffer, value: number, at: number): void {
  const high = Math.floor(value / 4294967296);
  buf.writeInt32BE(high, at);
  buf.writeUInt32BE(value - high * 4294967296, at + 4);
}

/** Fills in the batch header in front of the records (buf[0 … 61)) and its CRC. */
function writeBatchHeader(
  buf: Buffer,
  count: number,
  attributes: number,
  now: number,
  firstSequence: number,
  options: BatchOptions,
): Buffer {
  writeInt64(buf, 0, 0); // base offset
  buf.writeInt32BE(buf.length - 12, 8); // batch length: after itself
  buf.writeInt32BE(0, 12); // partition leader epoch
  buf[16] = 2; // magic
  buf.writeInt16BE(attributes, CRC_START);
  buf.writeInt32BE(count - 1, 23); // last offset delta
  writeInt64(buf, now, 27); // first timestamp
  writeInt64(buf, now, 35); // max timestamp
  if (options.producerId === undefined) writeInt64(buf, -1, 43);
  else buf.writeBigInt64BE(options.producerId, 43);
  buf.writeInt16BE(options.producerEpoch ?? 0, 51);
  buf.writeInt32BE(firstSequence, 53);
  buf.writeInt32BE(count, 57);
  // Handed over as a one-buffer DynamicBuffer: the library's native CRC copies a plain Buffer
  // into a new Uint8Array first.
  buf.writeUInt32BE(crc32c(Writer.create().append(buf.subarray(CRC_START)).dynamicBuffer), 17);
  return buf;
}

/** Size of the buffers an EncodePool hands out (at least): a request of the default
 * producer.batchBytes (1 MiB) fits in one. */
const POOLED_BYTES = 1024 * 1024;
/** Most idle buffers a pool keeps: one per request in flight (producer.maxInFlightRequests
 * defaults to 5), and one more. */
const POOL_KEEPS = 6;

/**
 * Buffers to encode requests in, reused from one request to the next instead of a fresh
 * allocation per batch (which the profile showed as createUnsafeBuffer, with the GC pressure of
 * external memory). A request takes an EncodeSpace and releases it once it is answered: the
 * connection copies the request into a buffer of its own when it queues it, and after the
 * answer nothing can read the space any more.
 */
export class EncodePool {
  private readonly free: Buffer[] = [];

  /** Space for one request; release it once the request is answered (or failed). */
  space(): EncodeSpace {
    return new EncodeSpace(this);
  }

  /** A buffer of at least `bytes`. */
  take(bytes: number): Buffer {
    for (let i = this.free.length - 1; i >= 0; i--) {
      if (this.free[i].length >= bytes) return this.free.splice(i, 1)[0];
    }
    return Buffer.allocUnsafeSlow(Math.max(bytes, POOLED_BYTES));
  }

  give(buffer: Buffer): void {
    if (this.free.length < POOL_KEEPS) this.free.push(buffer);
  }

  /** Idle buffers kept (for tests). */
  get idle(): number {
    return this.free.length;
  }
}

/** One request's share of an EncodePool: consecutive regions of pooled buffers. */
export class EncodeSpace {
  private current?: Buffer;
  private used = 0;
  private held: Buffer[] = [];

  constructor(private readonly pool: EncodePool) {}

  /** `bytes` bytes of the space, not handed out before (until release). */
  alloc(bytes: number): Buffer {
    if (this.current === undefined || this.used + bytes > this.current.length) {
      this.current = this.pool.take(bytes);
      this.held.push(this.current);
      this.used = 0;
    }
    const out = this.current.subarray(this.used, this.used + bytes);
    this.used += bytes;
    return out;
  }

  /** Gives the buffers back to the pool; nothing handed out may be read afterwards. */
  release(): void {
    for (const b of this.held) this.pool.give(b);
    this.held = [];
    this.current = undefined;
  }
}

/** One lane's RecordBatch; with `space`, written in it (uncompressed records). */
export async function encodeRecordBatch(
  lane: BatchLane,
  options: BatchOptions,
  now: number,
  space?: EncodeSpace,
): Promise<Buffer> {
  const algorithm =
    options.compression === 'none' ? undefined : compressionsAlgorithms[options.compression];
  if (!algorithm) {
    const buf = writeRecords(lane.records, BATCH_HEADER_BYTES, space);
    return writeBatchHeader(buf, lane.records.length, 0, now, lane.firstSequence, options);
  }
  const plain = writeRecords(lane.records, 0, space);
  const compressed =
    'compress' in algorithm && algorithm.compress
      ? await algorithm.compress(plain)
      : algorithm.compressSync(plain);
  const buf = Buffer.allocUnsafe(BATCH_HEADER_BYTES + compressed.length);
  buf.set(compressed, BATCH_HEADER_BYTES);
  return writeBatchHeader(
    buf,
    lane.records.length,
    algorithm.bitmask,
    now,
    lane.firstSequence,
    options,
  );
}

/**
 * The body of a flexible Produce request (versions 9 … 11, which share it): no transactional
 * id, acks, timeout, then each topic's partitions with their RecordBatch, as the library's
 * createRequest writes it. With acks 0 the connection expects no answer. With `space`, the
 * batches are written in it: release it only once the request is answered.
 */
export async function produceRequest(
  acks: -1 | 0 | 1,
  timeoutMs: number,
  lanes: BatchLane[],
  options: BatchOptions,
  now = Date.now(),
  space?: EncodeSpace,
): Promise<Writer> {
  const batches = await Promise.all(lanes.map((l) => encodeRecordBatch(l, options, now, space)));
  const topics = new Map<string, number[]>();
  for (let i = 0; i < lanes.length; i++) {
    const list = topics.get(lanes[i].topic);
    if (list) list.push(i);
    else topics.set(lanes[i].topic, [i]);
  }
  const writer = Writer.create()
    .appendString(null)
    .appendInt16(acks)
    .appendInt32(timeoutMs)
    .appendArray([...topics], (w, [topic, indexes]) => {
      w.appendString(topic).appendArray(indexes, (w, i) => {
        w.appendInt32(lanes[i].partition)
          .appendUnsignedVarInt(batches[i].length + 1)
          .append(batches[i]);
      });
    })
    .appendTaggedFields();
  if (acks === 0) writer.context.noResponse = true;
  return writer;
}
