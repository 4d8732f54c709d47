/**
 * Live scaling against the real broker: a fleet scaled up and then down while it streams.
 * Read back, every device that stayed has a gap-free seq one interval apart in event time
 * (no gap, no burst around the rebuilds), added devices start at seq 0, and removed devices
 * stop.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { http, startApp, type TestApp, waitFor } from '../support/app.js';
import { consumeAll, uniqueTopic } from '../support/kafka.js';

const INTERVAL = 500;
const FLEET = 'scaling';

interface Reading {
  deviceId: string;
  seq: number;
  ts: string;
}

let t: TestApp;
/** Messages by device number (1-based), in the order the topic holds them. */
const byNumber = new Map<number, Reading[]>();
let scaledDownAt: number;

const call = (method: string, path: string, body?: unknown) => http(t.url, method, path, body);

/** nextSeq of every device of the fleet, by device number (1-based). */
async function nextSeqs(): Promise<Map<number, number>> {
  const res = await call('GET', `/api/v1/fleets/${FLEET}/devices?limit=1000`);
  assert.equal(res.status, 200);
  return new Map(res.body.items.map((d: any) => [d.number, d.nextSeq]));
}

/** Waits until devices `from` … `to` have each sent `readings` more than in `base`. */
async function advance(from: number, to: number, readings: number, base?: Map<number, number>) {
  await waitFor(`devices ${from}…${to} to send ${readings} readings`, async () => {
    const seqs = await nextSeqs();
    for (let n = from; n <= to; n++) {
      if ((seqs.get(n) ?? 0) < (base?.get(n) ?? 0) + readings) return undefined;
    }
    return true;
  });
}

async function scale(deviceCount: number): Promise<void> {
  const res = await call('PATCH', `/api/v1/fleets/${FLEET}`, { deviceCount });
  assert.equal(res.status, 200, JSON.stringify(res.body));
  assert.equal(res.body.deviceCount, deviceCount);
}

before(async () => {
  const topic = uniqueTopic('scaling');
  t = await startApp({ KAFKA_TOPIC: topic, FLEETSIM_AUTOSTART: 'true', KAFKA_COMPRESSION: 'none' });
  const created = await call('POST', '/api/v1/fleets', {
    name: FLEET,
    deviceCount: 100,
    intervalMs: INTERVAL,
    seed: 5,
  });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  await advance(1, 100, 3);

  await scale(250);
  await advance(101, 250, 3);

  await scale(40);
  scaledDownAt = Date.now();
  const atScaleDown = await nextSeqs();
  await advance(1, 40, 2, atScaleDown);

  assert.equal((await call('POST', '/api/v1/simulation/stop')).status, 200);
  await t.drained();
  const messages = (await consumeAll(topic)).sort(
    (a, b) => a.partition - b.partition || a.offset - b.offset,
  );
  for (const m of messages) {
    const r = m.json as unknown as Reading;
    const n = Number(/\.d(\d+)$/.exec(r.deviceId)![1]);
    byNumber.set(n, [...(byNumber.get(n) ?? []), r]);
  }
});

after(async () => {
  await t?.close();
});

/** Asserts a device's stream starts at seq 0 and goes up by 1, one interval apart. */
function assertSteady(n: number): Reading[] {
  const readings = byNumber.get(n);
  assert.ok(readings && readings.length >= 2, `device ${n} streamed`);
  assert.equal(readings[0].seq, 0, `device ${n} starts at seq 0`);
  for (let i = 1; i < readings.length; i++) {
    assert.equal(
      readings[i].seq,
      readings[i - 1].seq + 1,
      `device ${n} seq after ${readings[i - 1].seq}`,
    );
    assert.equal(
      Date.parse(readings[i].ts) - Date.parse(readings[i - 1].ts),
      INTERVAL,
      `device ${n} seq ${readings[i].seq} is one interval after the one before`,
    );
  }
  return readings;
}

test('devices that stayed through both rebuilds stream without a gap or a burst', () => {
  for (let n = 1; n <= 40; n++) {
    const readings = assertSteady(n);
    assert.ok(
      Date.parse(readings.at(-1)!.ts) > scaledDownAt,
      `device ${n} kept streaming after the scale-down`,
    );
  }
});

test('added devices start at seq 0 and stream steadily; removed devices stop', () => {
  assert.equal(byNumber.size, 250, 'every device that ever existed streamed');
  for (let n = 41; n <= 250; n++) {
    const readings = assertSteady(n);
    const last = Date.parse(readings.at(-1)!.ts);
    assert.ok(
      last < scaledDownAt + INTERVAL,
      `device ${n} sent a reading at ${readings.at(-1)!.ts}, after the scale-down`,
    );
  }
  for (let n = 101; n <= 250; n++) {
    assert.ok(byNumber.get(n)!.length >= 3, `added device ${n} streamed for a while`);
  }
});
