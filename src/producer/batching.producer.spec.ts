import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type BatchingOptions, BatchingProducer, type BatchSender } from './batching.producer.js';
import {
  type OutgoingRecord,
  ownValue,
  RECORD_OVERHEAD_BYTES,
  ValueSlabs,
} from './outgoing.record.js';
import { ALL_SENT, type SendError, sendError, type SendResult } from './sender.js';

const OPTIONS: BatchingOptions = {
  batchSize: 100,
  batchBytes: 1024 * 1024,
  lingerMs: 5,
  bufferMemory: 1024 * 1024,
  maxInFlightRequests: 2,
  maxRetries: 2,
  retryBackoffMs: 1,
  backpressure: 'block',
  breaker: { failureThreshold: 2, openMs: 20, maxOpenMs: 100 },
};

/** A record of `size` bytes in all (6-byte key). */
function record(i: number, size = 100): OutgoingRecord {
  const key = Buffer.from(String(i).padStart(6, '0'));
  return { key, ...ownValue(Buffer.alloc(size - 6, 1)), hash: i, partition: 0, scheduledAt: i };
}

/** A sender whose outcome the test decides; records what it was asked to send. */
class ScriptedSender implements BatchSender {
  readonly topic = 'readings';
  batches: OutgoingRecord[][] = [];
  inFlight = 0;
  maxInFlight = 0;
  /** `timeout`: the request went out and got no answer (it may have been written). */
  fail: 'no' | 'retriable' | 'fatal' | 'timeout' = 'no';
  acks: -1 | 0 | 1 = -1;
  /** The idempotent producer identity; undefined: not idempotent. */
  identity?: string;
  /** Whether adoptProducerState takes over the previous sender's producer id. */
  adopts = false;
  /** Partitions from this one on do not exist on the broker (UNKNOWN_TOPIC_OR_PARTITION). */
  existsBelow = Infinity;
  /** The next this many sends get no answer (as fail = 'timeout'). */
  timeouts = 0;
  /** Records written, in the order the broker would store them. */
  writtenRecords: OutgoingRecord[] = [];
  /** Per-partition outcomes of the next sends: partition → error (the rest is written). */
  partitionErrors = new Map<number, SendError>();
  /** Records written, per partition, in the order the broker would store them. */
  written = new Map<number, number[]>();
  private gates: Array<() => void> = [];
  holding = false;

  partitions = 1;

  /** Partition counts of topics other than the default one, once prepared. */
  topics = new Map<string, number>();
  /** Partition counts prepareTopic will find. */
  existing = new Map<string, number>();
  prepared: string[] = [];

  partition(hash: number, topic?: string): number {
    if (topic === undefined) return this.partitions > 0 ? hash % this.partitions : -1;
    const n = this.topics.get(topic);
    return n === undefined ? -1 : hash % n;
  }

  producerIdentity(): string | undefined {
    return this.identity;
  }

  adoptProducerState(): boolean {
    return this.adopts;
  }

  async prepareTopic(topic: string): Promise<void> {
    await Promise.resolve();
    if (topic === this.topic) return;
    this.prepared.push(topic);
    const n = this.existing.get(topic);
    if (n === undefined) throw Object.assign(new Error('invalid topic'), { retriable: false });
    this.topics.set(topic, n);
  }

  async send(records: OutgoingRecord[]): Promise<SendResult> {
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    try {
      if (this.holding) await new Promise<void>((r) => this.gates.push(r));
      else await Promise.resolve();
      if (this.fail === 'retriable') throw sendError('broker down', true, 'NETWORK_EXCEPTION');
      if (this.fail === 'fatal') throw sendError('too large', false, 'MESSAGE_TOO_LARGE');
      if (this.fail === 'timeout' || this.timeouts > 0) {
        if (this.timeouts > 0) this.timeouts--;
        throw sendError('no answer', true, 'REQUEST_TIMED_OUT', undefined, true);
      }
      this.batches.push(records);
      const lanes = new Map<string, { topic: string; partition: number }>();
      for (const r of records) {
        const topic = r.topic ?? this.topic;
        if (this.partitionErrors.has(r.partition) || r.partition >= this.existsBelow) {
          lanes.set(`${topic}:${r.partition}`, { topic, partition: r.partition });
        }
      }
      const failed = [...lanes.values()].map((l) => ({
        ...l,
        error:
          this.partitionErrors.get(l.partition) ??
          sendError('no such partition', true, 'UNKNOWN_TOPIC_OR_PARTITION'),
      }));
      for (const r of records) {
        if (this.partitionErrors.has(r.partition) || r.partition >= this.existsBelow) continue;
        this.writtenRecords.push(r);
        const list = this.written.get(r.partition) ?? [];
        list.push(r.hash);
        this.written.set(r.partition, list);
      }
      return failed.length ? { failed } : ALL_SENT;
    } finally {
      this.inFlight--;
    }
  }

  release(): void {
    this.holding = false;
    for (const g of this.gates.splice(0)) g();
  }
}

function until(what: string, check: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  return new Promise((resolve, reject) => {
    const poll = () => {
      if (check()) return resolve();
      if (Date.now() > deadline) return reject(new Error(`timed out waiting for ${what}`));
      setTimeout(poll, 2);
    };
    poll();
  });
}

test('full batches leave at once, a partial one after the linger time', async () => {
  const sender = new ScriptedSender();
  const p = new BatchingProducer(sender, { ...OPTIONS, lingerMs: 30 });
  for (let i = 0; i < 250; i++) p.offer(record(i));
  await until('two full batches', () => sender.batches.length === 2);
  assert.deepEqual(
    sender.batches.map((b) => b.length),
    [100, 100],
  );
  assert.equal(p.stats.queued, 50, 'the rest waits for the linger time');
  await p.idle();
  assert.deepEqual(
    sender.batches.map((b) => b.length),
    [100, 100, 50],
  );
  assert.deepEqual(
    sender.batches.flat().map((r) => r.hash),
    [...Array(250).keys()],
    'order is kept',
  );
  assert.equal(p.stats.acknowledged, 250);
  assert.equal(p.stats.batches, 3);
  assert.ok(p.stats.balanced());
});

test('batches are bounded in bytes as well as in messages', async () => {
  const sender = new ScriptedSender();
  const p = new BatchingProducer(sender, { ...OPTIONS, batchBytes: 1000 });
  for (let i = 0; i < 30; i++) p.offer(record(i, 100));
  await p.flush();
  assert.ok(
    sender.batches.every((b) => b.length <= 10),
    sender.batches.map((b) => b.length).join(','),
  );
  assert.equal(sender.batches.flat().length, 30);
});

test('no more than maxInFlightRequests sends run at once', async () => {
  const sender = new ScriptedSender();
  sender.partitions = 6;
  sender.holding = true;
  const p = new BatchingProducer(sender, { ...OPTIONS, maxInFlightRequests: 3 });
  for (let i = 0; i < 1000; i++) p.offer(record(i));
  await until('three sends in flight', () => sender.inFlight === 3);
  assert.ok(p.stats.inFlight > 0 && p.stats.inFlight <= 300, `${p.stats.inFlight} in flight`);
  assert.equal(p.stats.inFlight + p.stats.queued, 1000);
  assert.ok(p.stats.balanced());
  sender.release();
  await p.idle();
  assert.equal(sender.maxInFlight, 3);
  assert.equal(p.stats.acknowledged, 1000);
});

test('a partition never has two batches in flight, so its order is kept', async () => {
  const sender = new ScriptedSender();
  sender.partitions = 6;
  sender.holding = true;
  const inFlight = new Map<number, number>();
  const original = sender.send.bind(sender);
  sender.send = async (records) => {
    const parts = [...new Set(records.map((r) => r.partition))];
    for (const q of parts) {
      assert.ok(!inFlight.get(q), `partition ${q} already has a batch in flight`);
      inFlight.set(q, 1);
    }
    try {
      return await original(records);
    } finally {
      for (const q of parts) inFlight.set(q, 0);
    }
  };
  const p = new BatchingProducer(sender, { ...OPTIONS, maxInFlightRequests: 5, batchSize: 50 });
  for (let i = 0; i < 3000; i++) p.offer(record(i));
  await until('sends in flight', () => sender.inFlight > 1);
  sender.release();
  const release = setInterval(() => sender.release(), 1);
  await p.idle();
  clearInterval(release);
  const sent = sender.batches.flat();
  assert.equal(sent.length, 3000);
  for (let q = 0; q < 6; q++) {
    const order = sent.filter((r) => r.partition === q).map((r) => r.hash);
    assert.deepEqual(
      order,
      [...order].sort((a, b) => a - b),
      `partition ${q} in offer order`,
    );
  }
  assert.ok(sender.maxInFlight > 1, 'different partitions still go out concurrently');
});

test('a retriable failure is retried and counted; nothing is lost or counted twice', async () => {
  const sender = new ScriptedSender();
  let failures = 1;
  const original = sender.send.bind(sender);
  sender.send = async (records) => {
    if (failures-- > 0) throw sendError('leader moved', true, 'NOT_LEADER_OR_FOLLOWER');
    return original(records);
  };
  const p = new BatchingProducer(sender, OPTIONS);
  for (let i = 0; i < 100; i++) p.offer(record(i));
  await p.idle();
  assert.equal(p.stats.retried, 100);
  assert.equal(p.stats.acknowledged, 100);
  assert.equal(sender.batches.flat().length, 100);
  assert.ok(p.stats.balanced());
});

test('a non-retriable failure is counted as failed, the producer goes on', async () => {
  const sender = new ScriptedSender();
  sender.fail = 'fatal';
  const p = new BatchingProducer(sender, OPTIONS);
  for (let i = 0; i < 100; i++) p.offer(record(i));
  await p.idle();
  assert.equal(p.stats.failed, 100);
  sender.fail = 'no';
  for (let i = 0; i < 100; i++) p.offer(record(i));
  await p.idle();
  assert.equal(p.stats.acknowledged, 100);
  assert.equal(p.breaker.state, 'closed');
  assert.ok(p.stats.balanced());
});

test('a retriable error on one partition re-sends that partition alone; the others are acknowledged once', async () => {
  const sender = new ScriptedSender();
  sender.partitions = 3;
  const failed: Array<[number, string, boolean]> = [];
  const acked: number[] = [];
  const observed = new BatchingProducer(
    sender,
    { ...OPTIONS, maxRetries: 3, maxInFlightRequests: 1 },
    {
      batchFailed: (n, e, retriable) => failed.push([n, (e as SendError).type, retriable]),
      batchAcknowledged: (n) => acked.push(n),
    },
  );
  // Partition 1 has no leader for two attempts, then recovers.
  const notLeader = sendError('not the leader', true, 'NOT_LEADER_OR_FOLLOWER');
  let attempts = 0;
  const send = sender.send.bind(sender);
  sender.send = async (records) => {
    if (records.some((r) => r.partition === 1) && ++attempts <= 2)
      sender.partitionErrors.set(1, notLeader);
    else sender.partitionErrors.delete(1);
    return send(records);
  };
  for (let i = 0; i < 90; i++) observed.offer(record(i));
  await observed.flush();

  assert.equal(sender.batches.length, 3, 'one request, then two with partition 1 alone');
  assert.deepEqual(
    sender.batches.map((b) => [...new Set(b.map((r) => r.partition))].sort()),
    [[0, 1, 2], [1], [1]],
  );
  for (const q of [0, 1, 2]) {
    assert.deepEqual(
      sender.written.get(q),
      Array.from({ length: 30 }, (_, i) => i * 3 + q),
      `partition ${q}: every record once, in order`,
    );
  }
  assert.equal(observed.stats.acknowledged, 90);
  assert.equal(observed.stats.retried, 60, 'only partition 1 (30 records) was retried, twice');
  assert.equal(observed.stats.failed, 0);
  assert.deepEqual(failed, [
    [30, 'NOT_LEADER_OR_FOLLOWER', true],
    [30, 'NOT_LEADER_OR_FOLLOWER', true],
  ]);
  assert.deepEqual(acked, [60, 30]);
  assert.ok(observed.stats.balanced());
});

test('a non-retriable error on one partition fails that partition only; the others are acknowledged and not re-sent', async () => {
  const sender = new ScriptedSender();
  sender.partitions = 3;
  sender.partitionErrors.set(2, sendError('record too large', false, 'MESSAGE_TOO_LARGE'));
  const p = new BatchingProducer(sender, { ...OPTIONS, maxInFlightRequests: 1 });
  for (let i = 0; i < 90; i++) p.offer(record(i));
  await p.flush();
  assert.equal(sender.batches.length, 1, 'nothing was sent twice');
  assert.equal(p.stats.acknowledged, 60);
  assert.equal(p.stats.failed, 30);
  assert.equal(p.stats.retried, 0);
  assert.equal(p.breaker.state, 'closed', 'a refused partition is an answer, not an outage');
  assert.ok(p.stats.balanced());
  // The refused partition takes new records again.
  sender.partitionErrors.clear();
  for (let i = 90; i < 99; i++) p.offer(record(i));
  await p.flush();
  assert.equal(p.stats.acknowledged, 69);
  assert.ok(p.stats.balanced());
});

test('a partition whose retries run out is kept, sent again later exactly once and in order', async (t) => {
  const sender = new ScriptedSender();
  sender.partitions = 2;
  sender.partitionErrors.set(0, sendError('not the leader', true, 'NOT_LEADER_OR_FOLLOWER'));
  const p = new BatchingProducer(sender, {
    ...OPTIONS,
    maxRetries: 1,
    maxInFlightRequests: 1,
    breaker: { failureThreshold: 3, openMs: 5, maxOpenMs: 5 },
  });
  t.after(() => p.close(0));
  for (let i = 0; i < 40; i++) p.offer(record(i));
  await until('partition 1 acknowledged', () => p.stats.acknowledged === 20);
  await until('partition 0 tried again and again', () => sender.batches.length >= 4);
  assert.equal(sender.written.get(0), undefined, 'nothing of partition 0 written yet');
  assert.equal(
    sender.batches.flat().filter((r) => r.partition === 1).length,
    20,
    'partition 1 was sent once',
  );
  for (let i = 40; i < 60; i++) p.offer(record(i));
  sender.partitionErrors.clear();
  await p.flush();
  assert.deepEqual(
    sender.written.get(0),
    Array.from({ length: 30 }, (_, i) => i * 2),
    'partition 0: every record once, in order',
  );
  assert.deepEqual(
    sender.written.get(1),
    Array.from({ length: 30 }, (_, i) => i * 2 + 1),
    'partition 1: every record once, in order',
  );
  assert.equal(p.stats.acknowledged, 60);
  assert.ok(p.stats.balanced());
});

test('an outage opens the circuit, keeps the data and recovers by itself', async () => {
  const sender = new ScriptedSender();
  sender.fail = 'retriable';
  const states: string[] = [];
  const p = new BatchingProducer(sender, OPTIONS, { breakerChanged: (s) => states.push(s) });
  for (let i = 0; i < 300; i++) p.offer(record(i));
  await until('the circuit to open', () => p.breaker.state === 'open');
  for (let i = 300; i < 400; i++) p.offer(record(i));
  assert.ok(p.stats.balanced(), 'the books balance during the outage');
  assert.equal(p.stats.acknowledged, 0);
  assert.equal(p.stats.failed + p.stats.droppedTotal, 0, 'nothing is failed or dropped');
  sender.fail = 'no';
  await p.idle();
  assert.equal(p.breaker.state, 'closed');
  assert.ok(states.includes('half-open'), `states went ${states.join(' → ')}`);
  assert.equal(p.stats.acknowledged, 400);
  const hashes = sender.batches
    .flat()
    .map((r) => r.hash)
    .sort((a, b) => a - b);
  assert.deepEqual(hashes, [...Array(400).keys()], 'every message once');
  assert.ok(p.stats.retried > 0);
  assert.ok(p.stats.balanced());
});

test('the drop policy drops past 80 % of the buffer and counts it', async () => {
  const sender = new ScriptedSender();
  sender.holding = true;
  const p = new BatchingProducer(sender, {
    ...OPTIONS,
    backpressure: 'drop',
    bufferMemory: 100_000,
  });
  for (let i = 0; i < 2000; i++) p.offer(record(i, 100));
  assert.ok(p.bufferedBytes <= 80_000, `buffer holds ${p.bufferedBytes} bytes`);
  // Each record takes its 100 bytes and RECORD_OVERHEAD_BYTES of the buffer.
  const kept = Math.floor(80_000 / (100 + RECORD_OVERHEAD_BYTES));
  assert.equal(p.stats.dropped.buffer_full, 2000 - kept);
  assert.ok(p.stats.balanced());
  sender.release();
  await p.idle();
  assert.equal(p.stats.acknowledged, kept);
  assert.ok(p.stats.balanced());
});

test('the block policy stops accepting past 80 % of the buffer', async () => {
  const sender = new ScriptedSender();
  sender.holding = true;
  const p = new BatchingProducer(sender, { ...OPTIONS, bufferMemory: 100_000 });
  let offered = 0;
  while (p.accepting) p.offer(record(offered++, 100));
  assert.equal(offered, Math.ceil(80_000 / (100 + RECORD_OVERHEAD_BYTES)));
  assert.equal(p.stats.droppedTotal, 0);
  sender.release();
  await p.idle();
  assert.ok(p.accepting);
});

test('close flushes what it can in time and drops the rest as shutdown', async () => {
  const sender = new ScriptedSender();
  const p = new BatchingProducer(sender, OPTIONS);
  for (let i = 0; i < 150; i++) p.offer(record(i));
  const closed = await p.close(1000);
  assert.deepEqual(closed, { flushed: 150, dropped: 0, unknown: 0 });

  // A broker that refuses every send (nothing written): all of it is dropped, none is left
  // counted as queued or in flight.
  const stuck = new ScriptedSender();
  stuck.fail = 'retriable';
  const q = new BatchingProducer(stuck, OPTIONS);
  for (let i = 0; i < 150; i++) q.offer(record(i));
  const result = await q.close(100);
  assert.equal(result.flushed, 0);
  assert.equal(q.stats.dropped.shutdown, 150);
  assert.deepEqual([q.stats.queued, q.stats.inFlight, q.stats.unknown], [0, 0, 0]);
  assert.equal(q.offer(record(1)), false, 'a closed producer takes nothing');
  assert.ok(q.stats.balanced());
});

test('close during an outage: requests without an answer are unknown, the rest dropped; later answers change nothing', async () => {
  const sender = new ScriptedSender();
  sender.partitions = 3;
  const p = new BatchingProducer(sender, { ...OPTIONS, batchSize: 10, maxInFlightRequests: 1 });
  // A try that got no answer (may be written), then the broker is gone: parked, ambiguous.
  sender.fail = 'timeout';
  for (let i = 0; i < 10; i++) p.offer(record(i));
  await until('the circuit to open', () => p.breaker.state === 'open');
  // More readings queue behind it; one request hangs when close() gives up.
  sender.fail = 'no';
  sender.holding = true;
  for (let i = 10; i < 40; i++) p.offer(record(i));
  await until('a request in flight', () => sender.inFlight === 1);
  const result = await p.close(30);
  const s = p.stats;
  assert.deepEqual([s.queued, s.inFlight], [0, 0], 'nothing left counted as queued or in flight');
  assert.equal(result.unknown, s.unknown);
  assert.ok(s.unknown >= 10, `the unanswered tries are unknown (${s.unknown})`);
  assert.equal(s.acknowledged + s.unknown + s.dropped.shutdown, 40);
  assert.ok(s.balanced());
  const books = JSON.stringify(s.snapshot());
  sender.release();
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(JSON.stringify(s.snapshot()), books, 'the books are final after close()');
});

test('records wait until the broker reported the partition count, then follow it', async () => {
  const sender = new ScriptedSender();
  sender.partitions = 0; // not connected yet: the count is not known
  const p = new BatchingProducer(sender, { ...OPTIONS, retryBackoffMs: 1, retryBackoffMaxMs: 5 });
  for (let i = 0; i < 20; i++) p.offer(record(i));
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(sender.batches.length, 0, 'nothing is routed by a guessed count');
  assert.equal(p.stats.queued, 20);
  assert.ok(p.stats.balanced());
  sender.partitions = 2;
  await p.flush();
  assert.equal(p.stats.acknowledged, 20);
  for (const r of sender.batches.flat()) assert.equal(r.partition, r.hash % 2);
  assert.ok(p.stats.balanced());
});

test('records for a partition that does not exist are re-routed by the new count, not re-sent forever', async () => {
  const sender = new ScriptedSender();
  sender.partitions = 6;
  const p = new BatchingProducer(sender, { ...OPTIONS, batchSize: 10, maxRetries: 1 });
  sender.holding = true;
  // 12 devices, 5 readings each (seq in scheduledAt).
  for (let i = 0; i < 60; i++) p.offer({ ...record(i), hash: i % 12 });
  await until('sends in flight', () => sender.inFlight > 0);
  // The topic turns out to have 2 partitions (re-created, or it existed with fewer).
  sender.partitions = 2;
  sender.existsBelow = 2;
  sender.release();
  await until('every record acknowledged', () => p.stats.acknowledged === 60);
  await p.flush();
  assert.equal(p.stats.failed, 0);
  const written = [...sender.written.entries()];
  assert.deepEqual(
    written.map(([part]) => part).sort(),
    [0, 1],
    'only existing partitions were written',
  );
  for (const [part, hashes] of written) assert.ok(hashes.every((h) => h % 2 === part));
  for (let device = 0; device < 12; device++) {
    const seqs = sender.writtenRecords.filter((r) => r.hash === device).map((r) => r.scheduledAt);
    assert.deepEqual(
      seqs,
      Array.from({ length: 5 }, (_, k) => device + 12 * k),
      `device ${device}: each reading once, in order`,
    );
  }
  assert.ok(p.stats.balanced());
});

test('a re-send after a try without answer counts as a possible duplicate unless the same idempotent producer re-sends it', async () => {
  for (const [identity, expected] of [
    [undefined, 10],
    ['pid-1:0', 0],
  ] as const) {
    const sender = new ScriptedSender();
    sender.identity = identity;
    const p = new BatchingProducer(sender, { ...OPTIONS, batchSize: 10 });
    sender.timeouts = 1;
    for (let i = 0; i < 10; i++) p.offer(record(i));
    await p.flush();
    assert.equal(p.stats.retried, 10);
    assert.equal(p.stats.acknowledged, 10);
    assert.equal(p.stats.possibleDuplicates, expected, `identity ${identity}`);
    assert.ok(p.stats.balanced());
  }
  // A refused try (nothing written) is no duplicate risk.
  const refused = new ScriptedSender();
  const q = new BatchingProducer(refused, { ...OPTIONS, batchSize: 10 });
  refused.fail = 'retriable';
  for (let i = 0; i < 10; i++) q.offer(record(i));
  await until('a retry', () => q.stats.retried > 0);
  refused.fail = 'no';
  await q.flush();
  assert.equal(q.stats.possibleDuplicates, 0);
});

test('a client swap keeps the producer id where the new sender adopts it, and counts possible duplicates where not', async () => {
  for (const adopts of [true, false]) {
    const before = new ScriptedSender();
    before.identity = 'pid-1:0';
    const after = new ScriptedSender();
    after.identity = adopts ? 'pid-1:0' : 'pid-2:0';
    after.adopts = adopts;
    const p = new BatchingProducer(before, { ...OPTIONS, batchSize: 10, maxInFlightRequests: 1 });
    before.fail = 'timeout';
    for (let i = 0; i < 10; i++) p.offer(record(i));
    await until('the batch parked', () => p.breaker.state === 'open');
    await p.setSender(after);
    await p.flush();
    assert.equal(p.stats.acknowledged, 10);
    assert.equal(p.stats.possibleDuplicates, adopts ? 0 : 10, `adopts ${adopts}`);
    assert.deepEqual(
      after.batches.map((b) => b.map((r) => r.hash)),
      [Array.from({ length: 10 }, (_, i) => i)],
      'the parked batch goes out as it was',
    );
    assert.ok(p.stats.balanced());
  }
});

test('sends refused for good make the producer report failing until a record is acknowledged', async () => {
  const sender = new ScriptedSender();
  const p = new BatchingProducer(sender, { ...OPTIONS, batchSize: 5, maxInFlightRequests: 1 });
  sender.fail = 'fatal';
  for (let i = 0; i < 20; i++) p.offer(record(i));
  await p.flush();
  assert.equal(p.stats.failed, 20);
  assert.equal(p.consecutiveRefusals, 4);
  assert.equal(p.failing, true, 'every send refused: failing');
  assert.equal(p.breaker.state, 'closed', 'the broker answers: the circuit stays closed');
  assert.match(p.lastRefusal ?? '', /too large/);
  sender.fail = 'no';
  p.offer(record(99));
  await p.flush();
  assert.equal(p.failing, false);
  assert.equal(p.consecutiveRefusals, 0);
});

test('a record not delivered within deliveryTimeoutMs is failed, not retried forever; the books balance', async () => {
  const sender = new ScriptedSender();
  sender.fail = 'retriable';
  const p = new BatchingProducer(sender, {
    ...OPTIONS,
    batchSize: 10,
    deliveryTimeoutMs: 60,
    breaker: { failureThreshold: 2, openMs: 5, maxOpenMs: 10 },
  });
  for (let i = 0; i < 30; i++) p.offer(record(i));
  await until('every record failed', () => p.stats.failed === 30);
  await p.flush();
  assert.deepEqual([p.stats.queued, p.stats.inFlight, p.stats.acknowledged], [0, 0, 0]);
  assert.equal(p.bufferedBytes, 0);
  assert.ok(p.stats.balanced());
  // The lanes are free again: the next records go out once the broker is back.
  sender.fail = 'no';
  p.offer(record(100));
  await p.flush();
  assert.equal(p.stats.acknowledged, 1);
});

test('with acks=0 records count as sent, not acknowledged', async () => {
  const sender = new ScriptedSender();
  sender.acks = 0;
  const p = new BatchingProducer(sender, OPTIONS);
  for (let i = 0; i < 25; i++) p.offer(record(i));
  await p.flush();
  assert.equal(p.stats.sent, 25);
  assert.equal(p.stats.acknowledged, 0);
  assert.ok(p.stats.balanced());
  assert.equal(p.stats.snapshot().sent, 25);
});

test('setSender waits for the sends in flight, then the new sender takes the rest, in order, once', async () => {
  const before = new ScriptedSender();
  const after = new ScriptedSender();
  before.partitions = after.partitions = 2;
  const p = new BatchingProducer(before, { ...OPTIONS, batchSize: 10, maxInFlightRequests: 2 });
  before.holding = true;
  for (let i = 0; i < 100; i++) p.offer(record(i));
  await until('two sends in flight on the old sender', () => before.inFlight === 2);

  let swapped = false;
  const swap = p.setSender(after).then((previous) => {
    swapped = true;
    return previous;
  });
  // More readings arrive while the swap waits; none may start on either sender yet.
  for (let i = 100; i < 150; i++) p.offer(record(i));
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(swapped, false, 'the swap must wait for the sends in flight');
  assert.equal(before.inFlight, 2, 'no new send may start on the old sender');
  assert.equal(after.batches.length + after.inFlight, 0, 'nor on the new one');
  assert.ok(p.stats.balanced());

  before.release();
  assert.equal(await swap, before, 'setSender resolves with the previous sender');
  await p.flush();

  const sentBefore = before.batches.flat().map((r) => r.hash);
  const sentAfter = after.batches.flat().map((r) => r.hash);
  assert.equal(before.batches.length, 2, 'the two batches in flight finished on the old sender');
  const all = [...sentBefore, ...sentAfter];
  assert.deepEqual(
    [...all].sort((a, b) => a - b),
    Array.from({ length: 150 }, (_, i) => i),
    'every record once across the swap',
  );
  for (const q of [0, 1]) {
    const order = all.filter((h) => h % 2 === q);
    assert.deepEqual(
      order,
      [...order].sort((a, b) => a - b),
      `partition ${q} in order`,
    );
  }
  assert.equal(p.stats.acknowledged, 150);
  assert.equal(p.stats.generated, 150);
  assert.ok(p.stats.balanced());
});

test('a swap while nothing is in flight takes effect at once; failures on the new sender are retried there', async () => {
  const before = new ScriptedSender();
  const after = new ScriptedSender();
  const p = new BatchingProducer(before, { ...OPTIONS, batchSize: 5, lingerMs: 1 });
  assert.equal(await p.setSender(after), before);
  after.fail = 'retriable';
  for (let i = 0; i < 20; i++) p.offer(record(i));
  await until('a retry on the new sender', () => p.stats.retried > 0);
  after.fail = 'no';
  await p.flush();
  assert.equal(before.batches.length, 0);
  // Retries may reorder batches across the two requests in flight; each record arrives once.
  assert.deepEqual(
    after.batches
      .flat()
      .map((r) => r.hash)
      .sort((a, b) => a - b),
    Array.from({ length: 20 }, (_, i) => i),
  );
  assert.ok(p.stats.balanced());
});

test('records of another topic wait until the sender knows it, then go out in order on their own lanes', async () => {
  const sender = new ScriptedSender();
  sender.partitions = 2;
  sender.existing.set('fleet-a', 3);
  const p = new BatchingProducer(sender, OPTIONS);
  for (let i = 0; i < 30; i++) {
    p.offer(record(i));
    p.offer({ ...record(1000 + i), topic: 'fleet-a' });
  }
  assert.ok(p.bufferedBytes > 0);
  await p.flush();
  assert.deepEqual(sender.prepared, ['fleet-a'], 'the topic is prepared once');
  const sent = sender.batches.flat();
  const own = sent.filter((r) => r.topic === 'fleet-a');
  assert.equal(own.length, 30);
  for (const part of [0, 1, 2]) {
    const hashes = own.filter((r) => r.partition === part).map((r) => r.hash);
    assert.deepEqual(
      hashes,
      [...hashes].sort((a, b) => a - b),
      `order per partition ${part}`,
    );
    assert.ok(
      hashes.every((h) => h % 3 === part),
      'partition by the topic’s own count',
    );
  }
  const lanesA = new Set(own.map((r) => r.lane));
  const lanesDefault = new Set(sent.filter((r) => !r.topic).map((r) => r.lane));
  assert.ok(
    [...lanesA].every((l) => !lanesDefault.has(l)),
    'one lane per (topic, partition)',
  );
  assert.equal(p.stats.acknowledged, 60);
  assert.ok(p.stats.balanced());
});

test('records of a topic that cannot be had fail and are counted', async () => {
  const sender = new ScriptedSender();
  const p = new BatchingProducer(sender, OPTIONS);
  for (let i = 0; i < 5; i++) p.offer({ ...record(i), topic: 'bad topic' });
  await p.flush();
  assert.equal(p.stats.failed, 5);
  assert.equal(p.stats.queued, 0);
  assert.equal(p.bufferedBytes, 0);
  assert.ok(p.stats.balanced());
});

test('values are released to their recycling slab when acknowledged, and only then', async () => {
  const slabs = new ValueSlabs(true);
  const made = (i: number): OutgoingRecord => {
    slabs.put(Buffer.alloc(94, i), 0, 94);
    return {
      key: Buffer.from(String(i).padStart(6, '0')),
      slab: slabs.slab,
      valueStart: slabs.start,
      valueEnd: slabs.end,
      hash: i,
      partition: 0,
      scheduledAt: i,
      owner: slabs.current,
    };
  };
  const sender = new ScriptedSender();
  sender.partitions = 2;
  // Partition 1 refuses for good: its records are failed, their values never released.
  sender.partitionErrors.set(1, sendError('too large', false, 'MESSAGE_TOO_LARGE'));
  const p = new BatchingProducer(sender, { ...OPTIONS, maxRetries: 0 });
  const records = Array.from({ length: 200 }, (_, i) => made(i));
  for (const r of records) p.offer(r);
  await p.idle();
  assert.equal(p.stats.acknowledged, 100);
  assert.equal(p.stats.failed, 100);
  for (const r of records) {
    if (r.partition === 0) assert.equal(r.owner, undefined, `acknowledged ${r.hash}: released`);
    else assert.equal(r.owner, slabs.current, `failed ${r.hash}: still held`);
  }
  assert.equal(slabs.current.refs, 100, 'the failed values still hold the slab');
});
