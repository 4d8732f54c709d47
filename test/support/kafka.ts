import kafkajs, { type Admin, type Kafka } from 'kafkajs';
import { randomUUID } from 'node:crypto';
import '../../src/kafka/kafkajs.patch.js';
import { registerCompressionCodecs } from '../../src/producer/compression.codecs.js';
import type { OutgoingRecord } from '../../src/producer/outgoing.record.js';
import type { BatchSender, LaneFailure } from '../../src/producer/sender.js';

// The tests' kafkajs consumers read what fleetsim wrote with any codec; kafkajs ships only gzip,
// and the server's code registers the others only when it uses the kafkajs engine.
registerCompressionCodecs();

/** The brokers `npm test` started (or KAFKA_BROKERS); tests must run through `npm test`. */
export function testBrokers(): string[] {
  const brokers = process.env.KAFKA_BROKERS;
  if (!brokers) throw new Error('KAFKA_BROKERS is not set: run the tests with `npm test`');
  return brokers.split(',');
}

export function testKafka(brokers = testBrokers()): Kafka {
  return new kafkajs.Kafka({
    clientId: 'fleetsim-test',
    brokers,
    logLevel: kafkajs.logLevel.NOTHING,
  });
}

/** A topic name no other test uses. */
export function uniqueTopic(prefix: string): string {
  return `${prefix}-${randomUUID().slice(0, 8)}`;
}

export interface ConsumedMessage {
  partition: number;
  offset: number;
  key: string;
  value: Buffer;
  /** Record headers, values as UTF-8 strings. */
  headers: Record<string, string>;
  json: Record<string, unknown> & { deviceId: string; seq: number };
}

/** Sum of the topic's high-water marks (messages in it). */
export async function topicSize(admin: Admin, topic: string): Promise<number> {
  const offsets = await admin.fetchTopicOffsets(topic);
  return offsets.reduce((n, o) => n + Number(o.high) - Number(o.low), 0);
}

/**
 * Reads every message in the topic, from the beginning up to the end offsets as they are
 * now, with a kafkajs consumer in a fresh group.
 */
export async function consumeAll(
  topic: string,
  brokers = testBrokers(),
  json = true,
): Promise<ConsumedMessage[]> {
  const kafka = testKafka(brokers);
  const admin = kafka.admin();
  await admin.connect();
  const offsets = await admin.fetchTopicOffsets(topic);
  await admin.disconnect();
  const end = new Map(offsets.map((o) => [o.partition, Number(o.high)]));
  const expected = [...end.values()].reduce((a, b) => a + b, 0);
  const out: ConsumedMessage[] = [];
  if (expected === 0) return out;
  const consumer = kafka.consumer({ groupId: `test-${randomUUID()}`, maxWaitTimeInMs: 200 });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`consumed ${out.length} of ${expected} messages of ${topic} in 60 s`)),
      60_000,
    );
    consumer
      .run({
        eachBatchAutoResolve: true,
        eachBatch: async ({ batch }) => {
          for (const m of batch.messages) {
            if (Number(m.offset) >= (end.get(batch.partition) ?? 0)) continue;
            out.push({
              partition: batch.partition,
              offset: Number(m.offset),
              key: m.key!.toString(),
              value: m.value!,
              headers: Object.fromEntries(
                Object.entries(m.headers ?? {}).map(([k, v]) => [k, String(v)]),
              ),
              json: json ? JSON.parse(m.value!.toString()) : ({} as ConsumedMessage['json']),
            });
          }
          if (out.length >= expected) {
            clearTimeout(timer);
            resolve();
          }
        },
      })
      .catch(reject);
  });
  await consumer.disconnect();
  return out;
}

/** Errors of a partition whose leader is not ready yet (a new topic's, for a moment). */
export const LEADER_MOVING = new Set(['NOT_LEADER_OR_FOLLOWER', 'LEADER_NOT_AVAILABLE']);

/**
 * Sends, then sends again the records of the partitions whose leader was not ready (and only
 * those), until every partition is written or refused for another reason: the failures left.
 */
export async function sendSettled(
  sender: BatchSender,
  records: OutgoingRecord[],
): Promise<LaneFailure[]> {
  let pending = records;
  for (let attempt = 0; ; attempt++) {
    const { failed } = await sender.send(pending);
    const moving = new Set(
      failed
        .filter((f) => LEADER_MOVING.has(f.error.type))
        .map((f) => `${f.topic}\0${f.partition}`),
    );
    if (moving.size === 0 || attempt === 50) return failed;
    pending = pending.filter((r) => moving.has(`${r.topic ?? sender.topic}\0${r.partition}`));
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
