/**
 * Issue 10 defect 5: with its broker stalled (SIGSTOP), fleetsim's buffer fills to the
 * high-water mark and stays there. What it counts against bufferMemory (the records' bytes and
 * RECORD_OVERHEAD_BYTES each) never passes bufferMemory, and the resident memory of the real
 * server process grows by about that much, not by the records' real cost twice over.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { EmbeddedKafka } from '../../src/kafka/embedded-kafka.js';
import { http, waitFor } from '../support/app.js';
import { rssOf } from '../support/faults.js';
import { uniqueTopic } from '../support/kafka.js';
import { type ServerProcess, spawnServer } from '../support/server.js';

const MB = 1024 * 1024;
const BUFFER = 48 * MB;

// This test stops its own broker, so it does not share the suite's.
const broker = new EmbeddedKafka({ port: 0, heap: '384m' });
let server: ServerProcess | undefined;

before(async () => {
  const brokers = await broker.start();
  server = await spawnServer({
    KAFKA_BROKERS: brokers.join(','),
    KAFKA_TOPIC: uniqueTopic('memory-bound'),
    KAFKA_BUFFER_MEMORY: String(BUFFER),
    FLEETSIM_BACKPRESSURE: 'block',
    KAFKA_COMPRESSION: 'none',
    FLEETSIM_AUTOSTART: 'true',
    LOG_LEVEL: 'error',
  });
});
after(async () => {
  await server?.kill();
  await broker.start().catch(() => {}); // SIGCONT, so that it can be stopped
  await broker.stop();
});

interface Books {
  acknowledged: number;
  generated: number;
  bufferedBytes: number;
  bufferMemory: number;
  accepting: boolean;
  queued: number;
  inFlight: number;
  balanced: boolean;
}

const books = async (): Promise<Books> =>
  (await http(server!.url, 'GET', '/api/v1/producer')).body as Books;

test('a stalled broker: bufferedBytes stays within bufferMemory and RSS grows by about as much', async (t) => {
  const url = server!.url;
  const pid = server!.child.pid!;
  const fleet = await http(url, 'POST', '/api/v1/fleets', {
    name: 'Memory',
    deviceCount: 4000,
    intervalMs: 200,
    seed: 5,
  });
  assert.equal(fleet.status, 201);
  await waitFor('readings acknowledged', async () =>
    (await books()).acknowledged >= 40_000 ? true : undefined,
  );
  const baseline = rssOf(pid)!;

  await broker.pause();
  let peakBuffered = 0;
  let peakRss = 0;
  let overheadSeen = 0;
  const sample = async () => {
    const b = await books();
    assert.ok(b.bufferedBytes <= BUFFER, `bufferedBytes ${b.bufferedBytes} > ${BUFFER}`);
    peakBuffered = Math.max(peakBuffered, b.bufferedBytes);
    peakRss = Math.max(peakRss, rssOf(pid) ?? 0);
    // Per held record: more than a ~270-byte JSON value, i.e. the overhead is counted.
    const held = b.queued + b.inFlight;
    if (held > 0) overheadSeen = Math.max(overheadSeen, b.bufferedBytes / held);
    return b;
  };
  // The buffer fills to the high-water mark (80 %) and the scheduler is held there.
  const full = await waitFor(
    'the buffer to fill',
    async () => {
      const b = await sample();
      return !b.accepting ? b : undefined;
    },
    180_000,
  );
  // Held for a while: the schedule falls behind, the buffer does not grow.
  const until = Date.now() + 10_000;
  while (Date.now() < until) {
    await sample();
    await new Promise((r) => setTimeout(r, 200));
  }
  const held = await sample();
  assert.ok(held.generated - full.generated < 1000, 'the scheduler is held, not generating');
  assert.ok(peakBuffered >= BUFFER * 0.75, `the buffer filled (${peakBuffered} bytes)`);
  assert.ok(overheadSeen > 500, `${overheadSeen.toFixed(0)} bytes counted per held record`);
  // The records' real cost is what was counted: RSS grows by about the buffer, plus the
  // garbage collector's slack (without the overhead counted, it grew by ~2× the buffer).
  const grown = peakRss - baseline;
  t.diagnostic(
    `RSS ${(baseline / MB).toFixed(0)} MB before the stall, peak ${(peakRss / MB).toFixed(0)} MB; ` +
      `${overheadSeen.toFixed(0)} bytes counted per held record; peak bufferedBytes ${peakBuffered}`,
  );
  assert.ok(
    grown <= BUFFER * 1.5,
    `RSS grew by ${(grown / MB).toFixed(0)} MB for a ${BUFFER / MB} MB buffer (baseline ${(baseline / MB).toFixed(0)} MB, peak ${(peakRss / MB).toFixed(0)} MB)`,
  );

  // The broker returns: everything held is delivered and the books balance.
  await broker.start();
  const done = await waitFor(
    'the buffer to drain',
    async () => {
      const b = await books();
      return b.queued + b.inFlight < 1000 && b.accepting ? b : undefined;
    },
    180_000,
  );
  assert.ok(done.balanced, JSON.stringify(done));
  assert.ok(done.acknowledged > held.acknowledged);
});
