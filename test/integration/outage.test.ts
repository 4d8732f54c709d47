import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { EmbeddedKafka } from '../../src/kafka/embedded-kafka.js';
import { ProducerService } from '../../src/producer/producer.service.js';
import { http, startApp, type TestApp, waitFor } from '../support/app.js';
import { consumeAll, uniqueTopic } from '../support/kafka.js';

// This test stops and restarts its own broker, so it does not share the suite's.
const broker = new EmbeddedKafka({ port: 0, heap: '512m' });
const topic = uniqueTopic('outage');
let t: TestApp;

before(async () => {
  const brokers = await broker.start();
  // fleetsim starts while its broker is down, and connects once it is up (first test).
  await broker.pause();
  t = await startApp(
    {
      KAFKA_BROKERS: brokers.join(','),
      KAFKA_TOPIC: topic,
      KAFKA_IDEMPOTENT: 'true',
      KAFKA_COMPRESSION: 'none',
      KAFKA_RETRY_BACKOFF_MS: '50',
      FLEETSIM_AUTOSTART: 'true',
    },
    { waitForKafka: false },
  );
});
after(async () => {
  await t?.close();
  await broker.stop();
});

const producer = async () => (await http(t.url, 'GET', '/api/v1/producer')).body;

test('started before its broker, fleetsim connects once the broker is up', async () => {
  const service = t.app.get(ProducerService);
  await waitFor('a failed connection attempt', () => service.lastConnectError);
  assert.equal((await http(t.url, 'GET', '/health/ready')).status, 503);
  assert.equal((await producer()).connected, false);
  await broker.start();
  await service.ready();
  await waitFor('readiness', async () =>
    (await http(t.url, 'GET', '/health/ready')).status === 200 ? true : undefined,
  );
  assert.equal((await producer()).connected, true);
});

test('a broker outage opens the circuit, keeps generating, and loses nothing', async () => {
  const fleet = await http(t.url, 'POST', '/api/v1/fleets', {
    name: 'Outage',
    deviceCount: 200,
    intervalMs: 200,
    seed: 1,
  });
  assert.equal(fleet.status, 201);
  await waitFor('messages before the outage', async () =>
    (await producer()).acknowledged >= 2000 ? true : undefined,
  );

  await broker.pause();
  const open = await waitFor('the circuit to open', async () => {
    const p = await producer();
    return p.circuit === 'open' ? p : undefined;
  });
  assert.ok(open.balanced, 'the books balance while the broker is down');
  const ready = await http(t.url, 'GET', '/health/ready');
  assert.equal(ready.status, 503, 'readiness reports the outage');
  const down = await waitFor('readings generated during the outage', async () => {
    const p = await producer();
    return p.generated >= open.generated + 1500 ? p : undefined;
  });
  assert.equal(
    down.acknowledged,
    open.acknowledged,
    'nothing is acknowledged while the broker is down',
  );
  assert.equal(down.failed + down.dropped, 0, 'nothing failed or dropped: the buffer holds it');
  assert.ok(down.balanced);

  await broker.start();
  let last: unknown;
  await waitFor(
    'the backlog to be sent',
    async () => {
      const p = await producer();
      last = p;
      return p.circuit === 'closed' && p.queued < 1000 && p.acknowledged > down.generated
        ? true
        : undefined;
    },
    90_000,
  ).catch((err: Error) => {
    throw new Error(`${err.message}; producer: ${JSON.stringify(last)}`);
  });
  assert.equal(
    (await http(t.url, 'GET', '/health/ready')).status,
    200,
    'ready again without a restart',
  );

  await http(t.url, 'POST', '/api/v1/simulation/stop');
  await t.drained();
  const final = await producer();
  assert.ok(final.balanced, JSON.stringify(final));
  assert.equal(final.failed + final.dropped, 0);
  assert.equal(final.acknowledged, final.generated);
  assert.ok(final.retried > 0, 'the outage caused retries');

  const messages = await consumeAll(topic, broker.brokers);
  const seen = new Map<string, Set<number>>();
  for (const m of messages) {
    const seqs = seen.get(m.key) ?? new Set<number>();
    assert.ok(!seqs.has(m.json.seq), `${m.key} seq ${m.json.seq} appears once`);
    seqs.add(m.json.seq);
    seen.set(m.key, seqs);
  }
  assert.equal(
    messages.length,
    final.acknowledged,
    'every acknowledged message is in the topic exactly once',
  );
  for (const [id, seqs] of seen) {
    assert.equal(Math.max(...seqs) + 1, seqs.size, `${id} has no gap`);
  }
});
