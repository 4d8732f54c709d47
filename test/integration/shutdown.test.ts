import assert from 'node:assert/strict';
import { test } from 'node:test';
import { http, waitFor } from '../support/app.js';
import { consumeAll, uniqueTopic } from '../support/kafka.js';
import { spawnServer, terminate } from '../support/server.js';

const DEVICES = 3000;
const INTERVAL_MS = 200;

interface Totals {
  generated: number;
  acknowledged: number;
  failed: number;
  dropped: number;
  queued: number;
  inFlight: number;
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
