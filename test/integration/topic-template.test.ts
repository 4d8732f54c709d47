/**
 * kafka.topic as a template: each fleet's readings go to a topic of its own, created on
 * demand with the configured partitions, partitioned by FNV-1a of the device id modulo that
 * topic's partition count, in order per device; a backfill goes to its fleet's topic too.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, test } from 'node:test';
import { fnv1a32Bytes } from '../../src/model/fnv1a.js';
import { http, startApp, type TestApp, waitFor } from '../support/app.js';
import { consumeAll, testKafka, topicSize } from '../support/kafka.js';

let t: TestApp;
const prefix = `tpl-${randomUUID().slice(0, 8)}`;

before(async () => {
  t = await startApp({ KAFKA_TOPIC: `${prefix}.{fleetId}`, KAFKA_TOPIC_PARTITIONS: '3' });
});
after(async () => t?.close());

test('each fleet streams to its own topic, partitioned per topic, in order per device', async () => {
  for (const name of ['North', 'South']) {
    const res = await http(t.url, 'POST', '/api/v1/fleets', {
      name,
      deviceCount: 12,
      intervalMs: 100,
      seed: 5,
    });
    assert.equal(res.status, 201, JSON.stringify(res.body));
  }
  const backfill = await http(t.url, 'POST', '/api/v1/backfills', {
    fleetId: 'north',
    from: '2026-01-01T00:00:00Z',
    to: '2026-01-01T00:00:10Z',
  });
  assert.equal(backfill.status, 201, JSON.stringify(backfill.body));

  const admin = testKafka().admin();
  await admin.connect();
  try {
    await waitFor('both fleet topics to fill', async () => {
      const sizes = await Promise.all(
        ['north', 'south'].map((f) => topicSize(admin, `${prefix}.${f}`).catch(() => 0)),
      );
      return sizes.every((n) => n >= 500) ? true : undefined;
    });
    await waitFor('the backfill to finish', async () => {
      const res = await http(t.url, 'GET', `/api/v1/backfills/${backfill.body.id}`);
      return res.body.state === 'running' ? undefined : res.body;
    });
    assert.equal((await http(t.url, 'POST', '/api/v1/simulation/stop')).status, 200);
    await t.drained();
    const meta = await admin.fetchTopicMetadata({ topics: [`${prefix}.north`, `${prefix}.south`] });
    assert.deepEqual(
      meta.topics.map((m) => m.partitions.length),
      [3, 3],
      'created with kafka.topicPartitions',
    );
    const topics = await admin.listTopics();
    assert.ok(!topics.includes(`${prefix}.{fleetId}`), 'the template itself is no topic');
  } finally {
    await admin.disconnect();
  }

  for (const fleet of ['north', 'south']) {
    const messages = await consumeAll(`${prefix}.${fleet}`);
    assert.ok(messages.every((m) => m.json.fleetId === fleet));
    const lastSeq = new Map<string, { live: number; backfill: number }>();
    for (const m of messages.sort((a, b) => a.partition - b.partition || a.offset - b.offset)) {
      assert.equal(m.partition, fnv1a32Bytes(Buffer.from(m.key)) % 3, m.key);
      // Live and backfill readings of a device share the partition; each stream is in order.
      const ts = Date.parse(m.json.ts as string);
      const stream = ts < Date.parse('2026-01-02T00:00:00Z') ? 'backfill' : 'live';
      const last = lastSeq.get(m.key) ?? { live: -1, backfill: -1 };
      assert.ok(m.json.seq > last[stream], `${m.key} ${stream} in order`);
      last[stream] = m.json.seq;
      lastSeq.set(m.key, last);
    }
    if (fleet === 'north') {
      const back = messages.filter(
        (m) => Date.parse(m.json.ts as string) < Date.parse('2026-01-02T00:00:00Z'),
      );
      assert.equal(back.length, 12 * 100, 'the backfill went to the fleet’s topic');
    }
  }
});
