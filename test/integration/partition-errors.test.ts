/**
 * One partition's error must neither fail nor re-send the other partitions of the same produce
 * request, whichever engine sends. The topic refuses batches over 50 kB (max.message.bytes),
 * so a request whose partition 0 carries a 100 kB record gets MESSAGE_TOO_LARGE for
 * partition 0 and success for the others, from the real broker. (A new topic's partitions may
 * answer NOT_LEADER_OR_FOLLOWER for a moment: those partitions, and only those, are sent again.)
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { KAFKA_CLIENTS } from '../../src/config/fleetsim.config.js';
import { BatchingProducer } from '../../src/producer/batching.producer.js';
import { createSender, loadEngine } from '../../src/producer/engines.js';
import { fnv1a32Bytes } from '../../src/model/fnv1a.js';
import { type OutgoingRecord, ownValue } from '../../src/producer/outgoing.record.js';
import type { SendError } from '../../src/producer/sender.js';
import {
  consumeAll,
  LEADER_MOVING,
  sendSettled,
  testBrokers,
  testKafka,
  uniqueTopic,
} from '../support/kafka.js';

const PARTITIONS = 3;

function record(partition: number, i: number, size = 100): OutgoingRecord {
  const key = Buffer.from(`p${partition}-d${i}`);
  const value = Buffer.from(
    JSON.stringify({ deviceId: key.toString(), seq: i, pad: 'x'.repeat(size) }),
  );
  return { key, ...ownValue(value), hash: fnv1a32Bytes(key), partition, scheduledAt: 0 };
}

async function createTopic(topic: string): Promise<void> {
  const admin = testKafka().admin();
  await admin.connect();
  await admin.createTopics({
    waitForLeaders: true,
    topics: [
      {
        topic,
        numPartitions: PARTITIONS,
        configEntries: [{ name: 'max.message.bytes', value: '50000' }],
      },
    ],
  });
  await admin.disconnect();
}

// The kafkajs engine's modules are loaded on demand (as the app does at start).
await Promise.all(KAFKA_CLIENTS.map((engine) => loadEngine(engine)));

function senderFor(engine: (typeof KAFKA_CLIENTS)[number], topic: string) {
  return createSender(engine, {
    brokers: testBrokers(),
    clientId: `fleetsim-partition-errors-${engine}`,
    topic,
    topicPartitions: PARTITIONS,
    topicReplicationFactor: 1,
    requiredAcks: -1,
    compression: 'none',
    idempotent: false,
    maxInFlightRequests: 1,
  });
}

for (const engine of KAFKA_CLIENTS) {
  void describe(`${engine} engine`, () => {
    void test('a partition refused by the broker is reported alone; the others are written once', async () => {
      const topic = uniqueTopic(`partition-errors-${engine}`);
      await createTopic(topic);
      const sender = senderFor(engine, topic);
      await sender.connect();
      try {
        const records = [
          ...Array.from({ length: 20 }, (_, i) => record(1, i)),
          record(0, 0, 100_000),
          ...Array.from({ length: 20 }, (_, i) => record(2, i)),
        ];
        const failed = await sendSettled(sender, records);
        assert.equal(failed.length, 1, JSON.stringify(failed));
        const [failure] = failed;
        assert.equal(failure.partition, 0);
        assert.equal(failure.error.type, 'MESSAGE_TOO_LARGE');
        assert.equal(failure.error.retriable, false);
        assert.ok(failure.error instanceof Error);
      } finally {
        await sender.disconnect();
      }
      const messages = await consumeAll(topic);
      assert.deepEqual(
        messages.map((m) => m.partition).sort(),
        [...Array(20).fill(1), ...Array(20).fill(2)],
        'partitions 1 and 2 hold their 20 records each, partition 0 none',
      );
    });

    void test('through the batching producer: the refused partition counts as failed, nothing is sent twice', async () => {
      const topic = uniqueTopic(`partition-errors-batching-${engine}`);
      await createTopic(topic);
      const sender = senderFor(engine, topic);
      await sender.connect();
      const errors: Array<[number, string, boolean]> = [];
      const producer = new BatchingProducer(
        sender,
        {
          batchSize: 1000,
          batchBytes: 1024 * 1024,
          lingerMs: 5,
          bufferMemory: 8 * 1024 * 1024,
          maxInFlightRequests: 1,
          maxRetries: 3,
          retryBackoffMs: 10,
          backpressure: 'block',
        },
        { batchFailed: (n, e, retriable) => errors.push([n, (e as SendError).type, retriable]) },
      );
      try {
        // Every key's partition comes from the sender (FNV-1a of the key): pick keys per partition.
        const perPartition = new Map<number, OutgoingRecord[]>();
        for (let i = 0; perPartition.size < PARTITIONS || i < 300; i++) {
          const r = record(0, i);
          r.partition = sender.partition(r.hash);
          const list = perPartition.get(r.partition) ?? [];
          list.push(r);
          perPartition.set(r.partition, list);
        }
        const big = perPartition.get(0)![0];
        const oversized = record(0, 999_999, 100_000);
        oversized.key = big.key;
        oversized.hash = big.hash;
        const all = [...perPartition.values()].flat();
        all.push(oversized);
        for (const r of all) producer.offer(r);
        await producer.flush();
        const stats = producer.stats;
        const onZero = perPartition.get(0)!.length + 1;
        assert.equal(stats.failed, onZero, 'partition 0, in the refused request, failed');
        assert.equal(stats.acknowledged, all.length - onZero);
        assert.ok(stats.balanced());
        assert.deepEqual(
          errors.filter(([, type]) => !LEADER_MOVING.has(type)),
          [[onZero, 'MESSAGE_TOO_LARGE', false]],
        );
      } finally {
        await producer.close(1000);
        await sender.disconnect();
      }
      const messages = await consumeAll(topic);
      const keys = messages.map((m) => `${m.partition}/${m.key}`);
      assert.equal(new Set(keys).size, keys.length, 'no record is in the topic twice');
      assert.ok(
        messages.every((m) => m.partition !== 0),
        'partition 0 holds nothing: its request was refused',
      );
      assert.equal(messages.length, producer.stats.acknowledged);
    });

    void test('records for a partition the client does not know are reported retriable, unsent', async () => {
      const topic = uniqueTopic(`partition-unknown-${engine}`);
      await createTopic(topic);
      const sender = senderFor(engine, topic);
      await sender.connect();
      try {
        assert.equal(sender.partitionCount, PARTITIONS);
        const failed = await sendSettled(sender, [record(1, 0), record(5, 0), record(2, 0)]);
        assert.deepEqual(
          failed.map((f) => [f.partition, f.error.type, f.error.retriable]),
          [[5, 'UNKNOWN_TOPIC_OR_PARTITION', true]],
        );
      } finally {
        await sender.disconnect();
      }
      const messages = await consumeAll(topic);
      assert.deepEqual(messages.map((m) => m.partition).sort(), [1, 2]);
    });
  });
}
