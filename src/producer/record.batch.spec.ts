import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  createRecordsBatch,
  type MessageRecord,
  NumericMap,
  produceV11,
  Reader,
  readRecordsBatch,
} from '@platformatic/kafka';
import type { CompressionName } from '../config/fleetsim.config.js';
import { type OutgoingRecord, recordHeaders, recordValue, ValueSlabs } from './outgoing.record.js';
import {
  type BatchLane,
  EncodePool,
  encodeRecordBatch,
  headerBytes,
  produceRequest,
} from './record.batch.js';

const CODECS: CompressionName[] = ['none', 'gzip', 'snappy', 'lz4', 'zstd'];
const NOW = 1_780_000_000_123;

const shared = recordHeaders({ 'content-type': 'application/json', 'fleet-id': 'f-1' });
const labelled = recordHeaders({ 'fleet-id': 'f-1', 'anomaly-kind': 'spike' });

/**
 * Records with keys and values of many lengths (varint sizes 1 and 2), some with headers; their
 * values are written one after the other into shared slabs, as the pipeline writes them.
 */
function records(n: number, seed = 1): OutgoingRecord[] {
  const slabs = new ValueSlabs();
  return Array.from({ length: n }, (_, i) => {
    const value = Buffer.from('x'.repeat((i * 37 + seed) % 300) + `{"i":${i}}`);
    slabs.put(value, 0, value.length);
    return {
      key: Buffer.from(`dev-${seed}-${i}`),
      slab: slabs.slab,
      valueStart: slabs.start,
      valueEnd: slabs.end,
      hash: i,
      partition: 0,
      scheduledAt: 0,
      headers: i % 3 === 0 ? undefined : i % 3 === 1 ? shared : labelled,
    };
  });
}

/** The same records as the library's message objects, at the time NOW. */
function messages(lane: BatchLane): MessageRecord[] {
  return lane.records.map((r) => ({
    topic: lane.topic,
    partition: lane.partition,
    key: r.key,
    value: recordValue(r),
    timestamp: BigInt(NOW),
    headers: new Map(
      Object.entries(r.headers?.entries ?? {}).map(([k, v]) => [Buffer.from(k), v] as const),
    ),
  }));
}

for (const compression of CODECS) {
  void test(`a ${compression} record batch is the one the library writes, byte for byte`, async () => {
    for (const [n, idempotent] of [
      [1, false],
      [200, false],
      [200, true],
    ] as const) {
      const lane: BatchLane = {
        topic: 't',
        partition: 3,
        records: records(n, n),
        firstSequence: idempotent ? 4242 : 0,
      };
      const options = idempotent
        ? { compression, producerId: 77n, producerEpoch: 3 }
        : { compression };
      const ours = await encodeRecordBatch(lane, options, NOW);
      const sequences = new NumericMap();
      sequences.set('t:3', lane.firstSequence);
      const theirs = createRecordsBatch(messages(lane), {
        ...options,
        ...(idempotent ? { sequences } : {}),
      }).buffer;
      assert.deepEqual(ours, theirs, `${n} records, idempotent ${idempotent}`);
      // And it reads back: keys, values, headers, offsets in order.
      const back = readRecordsBatch(Reader.from(ours));
      assert.equal(back.records.length, n);
      assert.equal(back.firstSequence, lane.firstSequence);
      back.records.forEach((r, i) => {
        assert.equal(r.offsetDelta, i);
        assert.deepEqual(r.key, lane.records[i].key);
        assert.deepEqual(r.value, recordValue(lane.records[i]));
        assert.equal(r.headers.length, Object.keys(lane.records[i].headers?.entries ?? {}).length);
      });
    }
  });
}

void test('a produce request of several topics and partitions is the library’s, byte for byte', async () => {
  const lanes: BatchLane[] = [
    { topic: 'a', partition: 0, records: records(5, 1), firstSequence: 0 },
    { topic: 'b', partition: 2, records: records(7, 2), firstSequence: 0 },
    { topic: 'a', partition: 4, records: records(3, 3), firstSequence: 0 },
  ];
  for (const acks of [0, 1, -1] as const) {
    const ours = await produceRequest(acks, 30_000, lanes, { compression: 'none' }, NOW);
    const theirs = produceV11.createRequest(acks, 30_000, lanes.flatMap(messages), {
      compression: 'none',
    });
    assert.deepEqual(ours.buffer, theirs.buffer);
    assert.equal(ours.context.noResponse ?? false, acks === 0);
  }
});

void test('headers are encoded once per shared headers object', () => {
  assert.equal(headerBytes(shared), headerBytes(shared));
  assert.deepEqual(headerBytes(undefined), Buffer.from([0]));
});

void test('requests encoded in pooled space are the same bytes, and the space is reused only once released', async () => {
  const lanes: BatchLane[] = [
    { topic: 'a', partition: 0, records: records(300, 1), firstSequence: 0 },
    { topic: 'a', partition: 1, records: records(900, 2), firstSequence: 0 },
  ];
  const pool = new EncodePool();
  const plain = (await produceRequest(1, 30_000, lanes, { compression: 'none' }, NOW)).buffer;
  const first = pool.space();
  const one = await produceRequest(1, 30_000, lanes, { compression: 'none' }, NOW, first);
  // A second request while the first is not released gets other buffers.
  const second = pool.space();
  const two = await produceRequest(1, 30_000, lanes, { compression: 'lz4' }, NOW, second);
  assert.deepEqual(one.buffer, plain);
  const twoBytes = Buffer.from(two.buffer);
  assert.deepEqual(one.buffer, plain, 'the first request is intact after the second was written');
  assert.equal(pool.idle, 0);
  first.release();
  second.release();
  assert.ok(pool.idle >= 2);
  const three = pool.space();
  const again = await produceRequest(1, 30_000, lanes, { compression: 'lz4' }, NOW, three);
  assert.deepEqual(again.buffer, twoBytes);
  three.release();
});
