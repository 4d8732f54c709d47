import assert from 'node:assert/strict';
import { test } from 'node:test';
import { http, startApp, waitFor } from '../support/app.js';
import { consumeAll, uniqueTopic } from '../support/kafka.js';

const MERGE_PATCH = { 'content-type': 'application/merge-patch+json' };
/** The engine under test (`npm test` runs this file for each) and the one the patch swaps to. */
const ENGINE = process.env.KAFKA_CLIENT ?? 'platformatic';
const OTHER = ENGINE === 'kafkajs' ? 'platformatic' : 'kafkajs';

test(`changing engine (${ENGINE} → ${OTHER}), topic, compression and acks while producing hands the queue to a new client: nothing lost, nothing twice, order kept`, async (t) => {
  const before = uniqueTopic('reload-a');
  const after = uniqueTopic('reload-b');
  const app = await startApp({
    LOG_LEVEL: 'error',
    KAFKA_TOPIC: before,
    KAFKA_COMPRESSION: 'none',
  });
  t.after(() => app.close());
  const created = await http(app.url, 'POST', '/api/v1/fleets', {
    name: 'reload',
    deviceCount: 500,
    intervalMs: 200,
    seed: 5,
  });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const producer = async () => (await http(app.url, 'GET', '/api/v1/producer')).body;
  await waitFor('readings acknowledged on the first topic', async () =>
    (await producer()).acknowledged >= 1000 ? true : undefined,
  );

  const res = await http(
    app.url,
    'PATCH',
    '/api/v1/config',
    {
      kafka: { topic: after, client: OTHER },
      producer: { compression: 'gzip', requiredAcks: 1, lingerMs: 20, batchSize: 200 },
    },
    MERGE_PATCH,
  );
  assert.equal(res.status, 200, JSON.stringify(res.body));
  assert.equal(res.body.version, 2);
  assert.equal(res.body.config.kafka.topic, after);
  assert.equal(res.body.config.kafka.client, OTHER);
  assert.equal(res.body.sources['kafka.client'], 'api');
  assert.equal(res.body.config.producer.compression, 'gzip');
  assert.equal(res.body.config.producer.requiredAcks, 1);
  assert.equal(res.body.sources['kafka.topic'], 'api');
  assert.equal(res.body.sources['producer.requiredAcks'], 'api');
  const swapped = await producer();
  assert.equal(swapped.topic, after, 'the new client is in use when PATCH answers');
  assert.ok(swapped.balanced);

  await waitFor('readings acknowledged through the new client', async () =>
    (await producer()).acknowledged >= swapped.acknowledged + 1000 ? true : undefined,
  );
  assert.equal((await http(app.url, 'POST', '/api/v1/simulation/stop')).status, 200);
  await app.drained();
  const books = await producer();
  assert.equal(books.queued + books.inFlight, 0);
  assert.equal(books.failed, 0);
  assert.equal(books.dropped, 0);
  assert.equal(books.acknowledged, books.generated);

  const first = await consumeAll(before);
  const second = await consumeAll(after);
  assert.ok(first.length > 0 && second.length > 0, 'both topics got readings');
  assert.equal(first.length + second.length, books.acknowledged, 'each acknowledged reading once');

  // Per device: the sequence numbers are 0 … n-1 with none missing or repeated, and every
  // reading on the first topic comes before every reading on the second.
  const seqs = new Map<string, { first: number[]; second: number[] }>();
  for (const [list, which] of [
    [first, 'first'],
    [second, 'second'],
  ] as const) {
    for (const m of list) {
      const entry = seqs.get(m.json.deviceId) ?? { first: [], second: [] };
      entry[which].push(m.json.seq);
      seqs.set(m.json.deviceId, entry);
    }
  }
  assert.equal(seqs.size, 500);
  for (const [device, { first: a, second: b }] of seqs) {
    const all = [...a, ...b].sort((x, y) => x - y);
    assert.deepEqual(
      all,
      all.map((_, i) => i),
      `${device}: sequence numbers with a gap or a duplicate`,
    );
    if (a.length && b.length) {
      assert.ok(Math.max(...a) < Math.min(...b), `${device}: a reading crossed the swap`);
    }
  }
});
