import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EmbeddedKafka } from '../../src/kafka/embedded-kafka.js';
import { http, waitFor } from '../support/app.js';
import { consumeAll, uniqueTopic } from '../support/kafka.js';
import { spawnServer, terminate } from '../support/server.js';

const DEVICES = 3000;
const INTERVAL_MS = 200;

interface Totals {
  generated: number;
  acknowledged: number;
  sent: number;
  failed: number;
  dropped: number;
  queued: number;
  inFlight: number;
  unknown: number;
  balanced: boolean;
}

test('SIGTERM stops the scheduler, then flushes the producer: the topic holds exactly what was acknowledged', async (t) => {
  const topic = uniqueTopic('shutdown');
  const server = await spawnServer({ KAFKA_TOPIC: topic, LOG_LEVEL: 'info' });
  t.after(() => server.kill());

  const created = await http(server.url, 'POST', '/api/v1/fleets', {
    name: 'shutdown',
    deviceCount: DEVICES,
    intervalMs: INTERVAL_MS,
    seed: 11,
  });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  // Past one whole interval of every device, so that the producer is busy when the signal comes.
  await waitFor(
    'a full interval of readings acknowledged',
    async () => {
      const { body } = await http(server.url, 'GET', '/api/v1/producer');
      return body.acknowledged >= DEVICES ? body : undefined;
    },
    120_000,
  );

  const sigtermAt = Date.now();
  const exit = await terminate(server, 90_000);
  assert.deepEqual(exit, { code: 0, signal: null });

  const index = (context: string, prefix: string) =>
    server.lines.findIndex((l) => l.context === context && l.message.startsWith(prefix));
  const stopped = index('Simulation', 'simulation stopped');
  const closed = index('Producer', 'producer closed');
  assert.ok(stopped >= 0, 'the scheduler logs that it stopped');
  assert.ok(closed > stopped, 'the scheduler stops before the producer is flushed and closed');
  assert.ok(index('fleetsim', 'fleetsim stopped') > closed);

  const line = server.lines[closed];
  const totals = line.totals as Totals;
  assert.equal(typeof line.flushed, 'number');
  assert.equal(typeof line.droppedAtShutdown, 'number');
  assert.equal(totals.queued + totals.inFlight, 0, 'nothing is left queued or in flight');
  assert.equal(totals.unknown, 0, 'every request was answered');
  assert.equal(
    totals.acknowledged + totals.failed + totals.dropped,
    totals.generated,
    `the books balance: ${JSON.stringify(totals)}`,
  );
  assert.ok(totals.acknowledged >= DEVICES);
  t.diagnostic(`flushed ${String(line.flushed)} at shutdown; totals ${JSON.stringify(totals)}`);

  const messages = await consumeAll(topic);
  assert.equal(messages.length, totals.acknowledged, 'the topic holds what was acknowledged');
  const seen = new Set<string>();
  let latest = 0;
  for (const m of messages) {
    const id = `${m.json.deviceId}#${m.json.seq}`;
    assert.ok(!seen.has(id), `${id} is in the topic twice`);
    seen.add(id);
    latest = Math.max(latest, Date.parse(m.json.ts as string));
  }
  assert.ok(
    latest <= sigtermAt + INTERVAL_MS,
    `a reading scheduled ${latest - sigtermAt} ms after SIGTERM was produced`,
  );
});

test('SIGTERM while the broker hangs: the last line books every message as acknowledged, failed, dropped or unknown', async (t) => {
  // A broker of its own, frozen with SIGSTOP (sockets open, no answers) during the test.
  const broker = new EmbeddedKafka({ port: 0, heap: '512m' });
  const brokers = await broker.start();
  t.after(async () => {
    broker.node?.resume();
    await broker.stop();
  });
  const topic = uniqueTopic('shutdown-outage');
  const server = await spawnServer({
    KAFKA_BROKERS: brokers.join(','),
    KAFKA_TOPIC: topic,
    KAFKA_COMPRESSION: 'none',
    LOG_LEVEL: 'info',
  });
  t.after(() => server.kill());
  const created = await http(server.url, 'POST', '/api/v1/fleets', {
    name: 'outage',
    deviceCount: 500,
    intervalMs: 100,
    seed: 12,
  });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  await waitFor(
    'readings acknowledged',
    async () => {
      const { body } = await http(server.url, 'GET', '/api/v1/producer');
      return body.acknowledged >= 2000 ? body : undefined;
    },
    120_000,
  );
  broker.node!.suspend();
  // Requests out to the frozen broker, and readings piling up behind them (5 per ms): those
  // were never sent, so at exit they are dropped, whatever becomes of the requests.
  const before = await waitFor(
    'requests without an answer, readings queued behind them',
    async () => {
      const { body } = await http(server.url, 'GET', '/api/v1/producer');
      return body.inFlight > 0 && body.queued >= 1000 ? (body as Totals) : undefined;
    },
  );

  const exit = await terminate(server, 90_000);
  assert.deepEqual(exit, { code: 0, signal: null });
  const line = server.lines.find(
    (l) => l.context === 'Producer' && l.message.startsWith('producer closed'),
  );
  assert.ok(line, 'a "producer closed" line');
  const totals = line.totals as Totals;
  t.diagnostic(line.message);
  const books = `at SIGTERM ${JSON.stringify(before)}; at exit ${JSON.stringify(totals)}`;
  assert.deepEqual(
    [totals.queued, totals.inFlight],
    [0, 0],
    'nothing left counted as queued or in flight',
  );
  assert.ok(totals.unknown > 0, `the requests in flight at exit are unknown: ${books}`);
  assert.equal(line.unknownAtShutdown, totals.unknown);
  assert.ok(totals.dropped > 0, `what was queued is dropped: ${books}`);
  assert.equal(
    totals.acknowledged + totals.sent + totals.failed + totals.dropped + totals.unknown,
    totals.generated,
    `the books balance: ${JSON.stringify(totals)}`,
  );
  assert.equal(totals.balanced, true);
  assert.match(line.message, /unknown \d+ \(in flight at exit\)/);
  broker.node!.resume();
  // Whatever is in the topic was acknowledged or unknown; nothing acknowledged is missing.
  const messages = await waitFor(
    'the topic readable again',
    () => consumeAll(topic, brokers).catch(() => undefined),
    60_000,
  );
  assert.ok(messages.length >= totals.acknowledged, `${messages.length} ≥ ${totals.acknowledged}`);
  assert.ok(messages.length <= totals.acknowledged + totals.unknown);
});
