import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { fnv1a32 } from '../../src/model/fnv1a.js';
import { http, startApp, type TestApp, waitFor } from '../support/app.js';
import { consumeAll, testKafka, uniqueTopic } from '../support/kafka.js';

const topic = uniqueTopic('partitions');
let t: TestApp;

before(async () => {
  t = await startApp({
    KAFKA_TOPIC: topic,
    KAFKA_METADATA_REFRESH_MS: '1000',
    FLEETSIM_AUTOSTART: 'true',
    KAFKA_COMPRESSION: 'none',
  });
});
after(async () => t?.close());

test('after a partition increase, new messages follow the new count', async () => {
  await http(t.url, 'POST', '/api/v1/fleets', { name: 'Grow', deviceCount: 300, intervalMs: 500 });
  await waitFor('messages on 6 partitions', async () => {
    const p = (await http(t.url, 'GET', '/api/v1/producer')).body;
    return p.acknowledged > 1000 ? true : undefined;
  });
  const admin = testKafka().admin();
  await admin.connect();
  await admin.createPartitions({ topicPartitions: [{ topic, count: 12 }] });
  await admin.disconnect();
  const switchedAt = await waitFor('the producer to see 12 partitions', async () => {
    const p = (await http(t.url, 'GET', '/api/v1/producer')).body;
    return p.partitions === 12 ? Date.now() : undefined;
  });
  const acked = (await http(t.url, 'GET', '/api/v1/producer')).body.acknowledged;
  await waitFor('messages after the switch', async () => {
    const p = (await http(t.url, 'GET', '/api/v1/producer')).body;
    return p.acknowledged > acked + 1000 ? true : undefined;
  });
  await http(t.url, 'POST', '/api/v1/simulation/stop');
  await t.drained();

  const messages = await consumeAll(topic);
  let onNew = 0;
  for (const m of messages) {
    const hash = fnv1a32(m.key);
    assert.ok(
      m.partition === hash % 6 || m.partition === hash % 12,
      `${m.key} on partition ${m.partition}`,
    );
    // Readings generated after the switch was seen (plus a batch's time) go by the new count.
    if (Date.parse(m.json.ts as unknown as string) > switchedAt + 200) {
      assert.equal(
        m.partition,
        hash % 12,
        `${m.key} at ${m.json.ts} follows the new partition count`,
      );
      if (m.partition >= 6) onNew++;
    }
  }
  assert.ok(onNew > 0, 'the new partitions received messages');
});
