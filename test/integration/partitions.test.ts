import assert from 'node:assert/strict';
import { createServer, type Server, type Socket, connect } from 'node:net';
import { after, before, test } from 'node:test';
import { fnv1a32 } from '../../src/model/fnv1a.js';
import { http, startApp, type TestApp, waitFor } from '../support/app.js';
import { consumeAll, testBrokers, testKafka, uniqueTopic } from '../support/kafka.js';

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

/** A free TCP port on 127.0.0.1 (nothing listens on it when this resolves). */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Forwards connections on `port` to `target` (host:port): the bootstrap address fleetsim uses. */
async function forward(port: number, target: string): Promise<Server> {
  const [host, targetPort] = target.split(':');
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    const upstream = connect(Number(targetPort), host);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => s.destroy());
    }
    client.pipe(upstream).pipe(client);
  });
  server.on('close', () => {
    for (const s of sockets) s.destroy();
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return server;
}

test('a topic that exists with fewer partitions than configured: readings made before connecting go to the partitions it has, none is lost', async (t) => {
  const small = uniqueTopic('fewer');
  const admin = testKafka().admin();
  await admin.connect();
  await admin.createTopics({
    waitForLeaders: true,
    topics: [{ topic: small, numPartitions: 2, replicationFactor: 1 }],
  });
  await admin.disconnect();
  // fleetsim starts while its bootstrap address does not answer, configured for 6 partitions.
  const port = await freePort();
  const early = await startApp(
    {
      KAFKA_BROKERS: `127.0.0.1:${port}`,
      KAFKA_TOPIC: small,
      KAFKA_TOPIC_PARTITIONS: '6',
      KAFKA_COMPRESSION: 'none',
      FLEETSIM_AUTOSTART: 'true',
    },
    { waitForKafka: false },
  );
  t.after(() => early.close());
  const fleet = await http(early.url, 'POST', '/api/v1/fleets', {
    name: 'Early',
    deviceCount: 60,
    intervalMs: 100,
    seed: 3,
  });
  assert.equal(fleet.status, 201);
  await waitFor('readings made before connecting', async () => {
    const p = (await http(early.url, 'GET', '/api/v1/producer')).body;
    return p.generated >= 300 && !p.connected ? true : undefined;
  });
  const proxy = await forward(port, testBrokers()[0]);
  t.after(() => new Promise((resolve) => proxy.close(resolve)));
  let last: unknown;
  await waitFor(
    'the early readings acknowledged',
    async () => {
      const p = (await http(early.url, 'GET', '/api/v1/producer')).body;
      last = p;
      return p.connected && p.acknowledged >= 600 ? true : undefined;
    },
    60_000,
  ).catch((err: Error) => {
    throw new Error(`${err.message}; producer: ${JSON.stringify(last)}`);
  });
  await http(early.url, 'POST', '/api/v1/simulation/stop');
  await early.drained();
  const final = (await http(early.url, 'GET', '/api/v1/producer')).body;
  assert.equal(final.partitions, 2, 'the partition count the broker reports');
  assert.equal(final.acknowledged, final.generated, JSON.stringify(final));
  assert.equal(final.circuit, 'closed');
  assert.ok(final.balanced);
  const messages = await consumeAll(small);
  assert.equal(messages.length, final.acknowledged);
  const seqs = new Map<string, number>();
  for (const m of messages) {
    assert.equal(m.partition, fnv1a32(m.key) % 2, `${m.key} by the broker's partition count`);
    const previous = seqs.get(m.key) ?? -1;
    assert.ok(m.json.seq > previous, `${m.key} in order`);
    seqs.set(m.key, m.json.seq);
  }
});
