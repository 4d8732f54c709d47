/**
 * What the producer counts against bufferMemory (issue 10 defect 5): every record's bytes and
 * its overhead (RECORD_OVERHEAD_BYTES), and the values of a stalled partition copied out of
 * the slabs they share with other partitions' values, so a stall pins only its own records'
 * memory.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import {
  type BatchingOptions,
  BatchingProducer,
  type BatchSender,
} from '../../../src/producer/batching.producer.js';
import {
  type OutgoingRecord,
  RECORD_OVERHEAD_BYTES,
  recordBytes,
  ValueSlabs,
} from '../../../src/producer/outgoing.record.js';
import { STALL_SLAB_BYTES } from '../../../src/producer/record.queue.js';
import { ALL_SENT, sendError, type SendResult } from '../../../src/producer/sender.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const OPTIONS: BatchingOptions = {
  batchSize: 500,
  batchBytes: 1024 * 1024,
  lingerMs: 1,
  bufferMemory: 256 * 1024 * 1024,
  // One request for the parked batch's retries, one for the partitions that flow.
  maxInFlightRequests: 2,
  maxRetries: 0,
  retryBackoffMs: 1,
  backpressure: 'block',
  // The circuit never opens: the healthy partitions keep flowing past the stalled one.
  breaker: { failureThreshold: 1_000_000_000, openMs: 1, maxOpenMs: 1 },
};

/** A JSON value as the pipeline writes it: a slice of a slab shared with the values around it. */
const VALUE = JSON.stringify({
  deviceId: 'plant-a.b1.f2.r3.d12345',
  fleetId: 'plant-a',
  seq: 1234,
  ts: '2026-12-01T18:00:00.000Z',
  location: { building: 1, floor: 2, room: 3 },
  readings: { temperature: 21.34, humidity: 45.12, switch: true, current: 3.21 },
  anomaly: null,
});
const KEY = Buffer.from('plant-a.b1.f2.r3.d12345');

const VALUE_BYTES = Buffer.from(VALUE, 'utf8');
const SLABS = new ValueSlabs();

function record(i: number): OutgoingRecord {
  SLABS.put(VALUE_BYTES, 0, VALUE_BYTES.length);
  return {
    key: KEY,
    slab: SLABS.slab,
    valueStart: SLABS.start,
    valueEnd: SLABS.end,
    hash: i,
    partition: 0,
    scheduledAt: i,
  };
}

/** Six partitions; sends to `stalled` fail with a retriable error, the others are written. */
class StallingSender implements BatchSender {
  readonly topic = 'readings';
  stalled = -1;
  /** When set, every send waits for it. */
  gate?: Promise<void>;
  partition(hash: number): number {
    return hash % 6;
  }
  async prepareTopic(): Promise<void> {}
  async send(records: OutgoingRecord[]): Promise<SendResult> {
    await (this.gate ?? Promise.resolve());
    if (!records.some((r) => r.partition === this.stalled)) return ALL_SENT;
    await new Promise((r) => setTimeout(r, 1)); // a broker's answer takes a while
    const error = sendError('not leader', true, 'NOT_LEADER_OR_FOLLOWER');
    return { failed: [{ topic: this.topic, partition: this.stalled, error }] };
  }
}

async function until(what: string, check: () => boolean, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

test('bufferedBytes counts every held record with its overhead: queued, in flight, parked', async () => {
  const sender = new StallingSender();
  let open!: () => void;
  sender.gate = new Promise<void>((r) => (open = r));
  const p = new BatchingProducer(sender, { ...OPTIONS, batchSize: 50 });
  const records = Array.from({ length: 300 }, (_, i) => record(i));
  const wire = records.reduce((n, r) => n + recordBytes(r), 0);
  for (const r of records) p.offer(r);
  // One batch is in flight (held at the gate), the rest queued: all of it is counted.
  assert.equal(p.stats.inFlight + p.stats.queued, 300);
  assert.ok(p.stats.inFlight > 0, 'a batch is in flight');
  assert.equal(p.bufferedBytes, wire + 300 * RECORD_OVERHEAD_BYTES);

  // Partition 5 stalls: its batch is parked, its lane's slabs are counted while it stalls.
  sender.stalled = 5;
  sender.gate = undefined;
  open();
  await until('the other partitions to be written', () => p.stats.acknowledged === 250);
  const held = records.filter((r) => r.partition === 5);
  assert.equal(p.stats.queued + p.stats.inFlight, held.length);
  const heldWire = held.reduce((n, r) => n + recordBytes(r), 0);
  assert.equal(
    p.bufferedBytes,
    heldWire + held.length * RECORD_OVERHEAD_BYTES + 2 * STALL_SLAB_BYTES,
    'the stalled lane: its records, their overhead and its two slabs',
  );

  // The partition recovers: nothing is held, nothing counted.
  sender.stalled = -1;
  await p.idle();
  assert.equal(p.stats.acknowledged, 300);
  assert.equal(p.bufferedBytes, 0);
  assert.ok(p.stats.balanced());
});

test('RECORD_OVERHEAD_BYTES covers what a held record costs beyond its bytes', () => {
  // As the pipeline offers them: a fresh record object per reading, its value in a shared
  // slab, the key shared by the device's readings, held in a queue.
  const n = 200_000;
  const sender = new StallingSender();
  sender.gate = new Promise<void>(() => {}); // nothing is ever answered
  const p = new BatchingProducer(sender, { ...OPTIONS, lingerMs: 60_000 });
  const fill = (count: number) => {
    for (let i = 0; i < count; i++) p.offer(record(i * 6)); // one partition: nothing is sent
  };
  fill(1000); // the queue's first ring and the producer's lanes exist before measuring
  gc();
  gc();
  const before = process.memoryUsage();
  const queuedBefore = p.stats.queued + p.stats.inFlight;
  fill(n);
  gc();
  gc();
  const after = process.memoryUsage();
  const held = p.stats.queued + p.stats.inFlight - queuedBefore;
  assert.equal(held, n, 'nothing was sent while measuring');
  const grown = after.heapUsed - before.heapUsed + (after.arrayBuffers - before.arrayBuffers);
  const perRecord = grown / n;
  const overhead = perRecord - Buffer.byteLength(VALUE);
  assert.ok(
    overhead <= RECORD_OVERHEAD_BYTES,
    `a held record cost ${overhead.toFixed(0)} bytes beyond its value; RECORD_OVERHEAD_BYTES is ${RECORD_OVERHEAD_BYTES}`,
  );
  assert.ok(overhead > 100, `the measurement saw the record objects (${overhead.toFixed(0)} B)`);
  void p.close(0);
});

test('a stalled partition pins no shared slab: its values are copied out', async () => {
  const sender = new StallingSender();
  sender.stalled = 5;
  const p = new BatchingProducer(sender, OPTIONS);
  const n = 60_000;
  gc();
  gc();
  const before = process.memoryUsage().arrayBuffers;
  for (let i = 0; i < n; i++) {
    p.offer(record(i));
    if (i % 6000 === 5999) {
      const healthy = ((i + 1) * 5) / 6;
      await until('the healthy partitions to be written', () => p.stats.acknowledged === healthy);
    }
  }
  gc();
  gc();
  const pinned = process.memoryUsage().arrayBuffers - before;
  const stalledBytes = (n / 6) * Buffer.byteLength(VALUE);
  // Without the copy every pool slab stays alive for its stalled sixth: ~6× the stalled bytes.
  assert.ok(
    pinned <= stalledBytes * 1.2 + 2 * STALL_SLAB_BYTES,
    `${pinned} bytes of buffers held for ${stalledBytes} bytes of stalled values`,
  );
  assert.ok(
    p.bufferedBytes >= pinned,
    `bufferedBytes ${p.bufferedBytes} counts at least the ${pinned} bytes of buffers held`,
  );
  sender.stalled = -1;
  await p.idle();
  assert.equal(p.stats.acknowledged, n);
  assert.ok(p.stats.balanced());
});
