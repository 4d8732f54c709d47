import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { afterEach, test } from 'node:test';
import { http, startApp, type TestApp, waitFor } from '../support/app.js';

/** A port with nothing listening on it: a broker that is down. */
async function deadPort(): Promise<number> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

let t: TestApp | undefined;
afterEach(async () => {
  await t?.close();
  t = undefined;
});

const BUFFER = 64 * 1024;

async function run(policy: 'block' | 'drop') {
  t = await startApp(
    {
      KAFKA_BROKERS: `127.0.0.1:${await deadPort()}`,
      KAFKA_TOPIC: 'unreachable',
      KAFKA_BUFFER_MEMORY: String(BUFFER),
      FLEETSIM_BACKPRESSURE: policy,
      FLEETSIM_AUTOSTART: 'true',
      KAFKA_COMPRESSION: 'none',
    },
    { waitForKafka: false },
  );
  const fleet = await http(t.url, 'POST', '/api/v1/fleets', {
    name: 'Flood',
    deviceCount: 2000,
    intervalMs: 100,
  });
  assert.equal(fleet.status, 201);
  return t;
}

const status = async (app: TestApp) => (await http(app.url, 'GET', '/api/v1/producer')).body;

test('block: a full buffer holds the scheduler back; memory stays bounded and lag is reported', async () => {
  const app = await run('block');
  const held = await waitFor('the scheduler to be held', async () => {
    const p = await status(app);
    return !p.accepting ? p : undefined;
  });
  // 20,000 readings a second are due; a second later the producer holds no more than before.
  const sim = await waitFor('the schedule to fall a second behind', async () => {
    const s = (await http(app.url, 'GET', '/api/v1/simulation')).body;
    return s.behindMs > 1000 ? s : undefined;
  });
  const p = await status(app);
  assert.ok(p.bufferedBytes <= BUFFER, `buffer holds ${p.bufferedBytes} of ${BUFFER} bytes`);
  assert.ok(
    p.generated - held.generated < 50,
    `generated grew by ${p.generated - held.generated} while held`,
  );
  assert.ok(
    sim.produced < 2000,
    `only ${sim.produced} readings were generated: the rest wait on the schedule`,
  );
  assert.equal(p.dropped, 0, 'block never drops');
  assert.ok(p.balanced);
  const metrics = await (await fetch(`${app.url}/metrics`)).text();
  const behind = Number(/^fleetsim_schedule_behind_seconds (\S+)/m.exec(metrics)?.[1]);
  assert.ok(behind > 1, `schedule lag reported in /metrics: ${behind} s`);
});

test('drop: a full buffer drops new readings and counts them; memory stays bounded', async () => {
  const app = await run('drop');
  const p = await waitFor('drops', async () => {
    const s = await status(app);
    return s.droppedByReason.buffer_full > 5000 ? s : undefined;
  });
  assert.ok(p.bufferedBytes <= BUFFER * 0.8, `buffer holds ${p.bufferedBytes} bytes`);
  assert.ok(p.queued + p.inFlight < 300, `${p.queued} queued`);
  assert.equal(p.acknowledged, 0);
  assert.ok(p.balanced, JSON.stringify(p));
  const metrics = await (await fetch(`${app.url}/metrics`)).text();
  const dropped = Number(
    /^fleetsim_messages_dropped_total\{reason="buffer_full"\} (\d+)/m.exec(metrics)?.[1],
  );
  assert.ok(dropped >= p.droppedByReason.buffer_full, 'drops are counted in /metrics by reason');
  const ready = await http(app.url, 'GET', '/health/ready');
  assert.equal(ready.status, 503, 'not ready while Kafka is unreachable');
});
