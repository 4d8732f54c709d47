/**
 * Injected anomalies against the real broker: inject over REST while a fleet streams, read
 * the topic back and check the ground truth — which messages carry the anomaly's label, what
 * the labelled readings look like, and which messages a dropout left out.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { http, startApp, type TestApp, waitFor } from '../support/app.js';
import { type ConsumedMessage, consumeAll, uniqueTopic } from '../support/kafka.js';

const INTERVAL = 500;
const DURATION = 3000;
/** Readings of one device inside an anomaly's window. */
const PER_WINDOW = DURATION / INTERVAL;
const ROOM = { building: 1, floor: 2, room: 3 };

interface Reading {
  deviceId: string;
  fleetId: string;
  seq: number;
  ts: string;
  location: { building: number; floor: number; room: number };
  readings: Record<string, number | boolean>;
  anomaly: { id: string; kind: string; sensor: string } | null;
}

interface Injected {
  id: string;
  devices: string[];
  deviceCount: number;
  startsAt: string;
  endsAt: string;
}

let t: TestApp;
let topic: string;
let spike: Injected;
let dropout: Injected;
let messages: Reading[];

const call = (method: string, path: string, body?: unknown) => http(t.url, method, path, body);

async function createFleet(body: Record<string, unknown>): Promise<void> {
  const res = await call('POST', '/api/v1/fleets', body);
  assert.equal(res.status, 201, JSON.stringify(res.body));
}

async function inject(body: Record<string, unknown>): Promise<Injected> {
  const res = await call('POST', '/api/v1/anomalies', body);
  assert.equal(res.status, 201, JSON.stringify(res.body));
  return res.body;
}

/** Waits until the device has a reading with event time at or after `ts`. */
async function readingAtOrAfter(deviceId: string, ts: number): Promise<void> {
  await waitFor(`${deviceId} to reach ${new Date(ts).toISOString()}`, async () => {
    const res = await call('GET', `/api/v1/devices/${deviceId}`);
    const last = res.body.lastReading;
    return last && Date.parse(last.ts) >= ts ? true : undefined;
  });
}

const sameRoom = (m: Reading) =>
  m.location.building === ROOM.building &&
  m.location.floor === ROOM.floor &&
  m.location.room === ROOM.room;

before(async () => {
  topic = uniqueTopic('anomalies');
  t = await startApp({
    KAFKA_TOPIC: topic,
    FLEETSIM_AUTOSTART: 'true',
    KAFKA_COMPRESSION: 'none',
    FLEETSIM_ANOMALY_RATE: '0',
    // Flat and calm so "above the alarm" is down to the anomaly alone.
    FLEETSIM_TREND_ENABLED: 'false',
    FLEETSIM_DATA_VARIATION: '0.5',
  });
  // 20 rooms of 10 devices.
  await createFleet({
    name: 'spikes',
    deviceCount: 200,
    intervalMs: INTERVAL,
    layout: { buildings: 2, floorsPerBuilding: 2, roomsPerFloor: 5 },
    seed: 11,
  });
  await createFleet({
    name: 'silence',
    deviceCount: 20,
    intervalMs: INTERVAL,
    layout: { buildings: 1, floorsPerBuilding: 1, roomsPerFloor: 4 },
    seed: 12,
  });
  const silent = (await call('GET', '/api/v1/fleets/silence/devices?limit=3')).body.items;
  // Let both fleets stream for a couple of intervals first.
  await readingAtOrAfter(silent[0].id, Date.now() + INTERVAL);

  spike = await inject({
    target: { fleetId: 'spikes', ...ROOM },
    sensor: 'temperature',
    kind: 'spike',
    magnitude: 40,
    durationMs: DURATION,
  });
  dropout = await inject({
    target: { fleetId: 'silence', deviceIds: [silent[1].id, silent[2].id] },
    sensor: 'temperature',
    kind: 'dropout',
    durationMs: DURATION,
  });
  assert.equal(spike.deviceCount, 10);
  assert.equal(dropout.deviceCount, 2);

  for (const a of [spike, dropout]) {
    await waitFor(`${a.id} to end`, async () => {
      const res = await call('GET', `/api/v1/anomalies/${a.id}`);
      return res.body.state === 'ended' ? true : undefined;
    });
  }
  // Two more readings of every targeted device after the end, to see them back to normal.
  for (const a of [spike, dropout]) {
    for (const id of a.devices) await readingAtOrAfter(id, Date.parse(a.endsAt) + INTERVAL);
  }
  assert.equal((await call('POST', '/api/v1/simulation/stop')).status, 200);
  await t.drained();
  messages = (await consumeAll(topic)).map((m: ConsumedMessage) => m.json as unknown as Reading);
});

after(async () => {
  await t?.close();
});

test('a room spike labels exactly the room’s readings inside its window, and they cross the alarm', () => {
  const startsAt = Date.parse(spike.startsAt);
  const endsAt = Date.parse(spike.endsAt);
  const fleet = messages.filter((m) => m.fleetId === 'spikes');
  assert.ok(fleet.length > 200 * 4, `${fleet.length} messages`);
  const inWindow = (m: Reading) => Date.parse(m.ts) >= startsAt && Date.parse(m.ts) < endsAt;

  const labelled = fleet.filter((m) => m.anomaly?.id === spike.id);
  for (const m of labelled) {
    assert.ok(sameRoom(m), `${m.deviceId} is outside the room`);
    assert.ok(inWindow(m), `${m.deviceId} seq ${m.seq} at ${m.ts} is outside the window`);
    assert.deepEqual(m.anomaly, { id: spike.id, kind: 'spike', sensor: 'temperature' });
    assert.ok((m.readings.temperature as number) > 50, `labelled ${m.readings.temperature} °C`);
  }
  const roomInWindow = fleet.filter((m) => sameRoom(m) && inWindow(m));
  assert.equal(roomInWindow.length, 10 * PER_WINDOW, 'every room device read 6 times in 3 s');
  assert.ok(
    roomInWindow.every((m) => m.anomaly?.id === spike.id),
    'every reading of the room in the window is labelled',
  );
  assert.equal(labelled.length, roomInWindow.length);
  assert.deepEqual(new Set(labelled.map((m) => m.deviceId)), new Set(spike.devices));

  const others = fleet.filter((m) => !sameRoom(m));
  assert.ok(
    others.every((m) => m.anomaly === null),
    'no reading outside the room is labelled',
  );
  const unlabelled = fleet.filter((m) => m.anomaly === null);
  const below = unlabelled.filter((m) => (m.readings.temperature as number) < 50).length;
  assert.ok(below >= 0.99 * unlabelled.length, `${below} of ${unlabelled.length} below 50 °C`);

  for (const id of spike.devices) {
    const after = fleet.filter((m) => m.deviceId === id && Date.parse(m.ts) >= endsAt);
    assert.ok(after.length >= 1, `${id} has readings after the end`);
    assert.ok(
      after.every((m) => m.anomaly === null),
      `${id} is back to normal`,
    );
    const before = fleet.filter((m) => m.deviceId === id && Date.parse(m.ts) < startsAt);
    assert.ok(before.length >= 1 && before.every((m) => m.anomaly === null));
  }
});

test('a dropout silences its devices for its window; their seq skips the missed readings', () => {
  const startsAt = Date.parse(dropout.startsAt);
  const endsAt = Date.parse(dropout.endsAt);
  const fleet = messages.filter((m) => m.fleetId === 'silence');
  assert.ok(
    fleet.every((m) => m.anomaly === null),
    'a dropout labels nothing it sends',
  );
  const byDevice = new Map<string, Reading[]>();
  for (const m of fleet) byDevice.set(m.deviceId, [...(byDevice.get(m.deviceId) ?? []), m]);
  assert.equal(byDevice.size, 20);

  for (const [id, readings] of byDevice) {
    readings.sort((a, b) => a.seq - b.seq);
    const targeted = dropout.devices.includes(id);
    let gaps = 0;
    for (let i = 1; i < readings.length; i++) {
      const [prev, next] = [readings[i - 1], readings[i]];
      const seqStep = next.seq - prev.seq;
      const tsStep = Date.parse(next.ts) - Date.parse(prev.ts);
      if (seqStep === 1) {
        assert.equal(tsStep, INTERVAL, `${id} seq ${next.seq} is one interval after the last`);
        continue;
      }
      gaps++;
      assert.ok(targeted, `${id} is not targeted but misses seq ${prev.seq + 1}…${next.seq - 1}`);
      assert.ok(Date.parse(prev.ts) < startsAt && Date.parse(next.ts) >= endsAt);
      assert.equal(
        seqStep - 1,
        PER_WINDOW,
        `${id} misses the ${PER_WINDOW} readings of the window`,
      );
      assert.equal(tsStep, seqStep * INTERVAL, 'the missed readings are whole intervals');
    }
    if (targeted) {
      assert.equal(gaps, 1, `${id} has one gap`);
      assert.ok(
        readings.every((m) => Date.parse(m.ts) < startsAt || Date.parse(m.ts) >= endsAt),
        `${id} sent nothing in the window`,
      );
      assert.ok(
        readings.some((m) => Date.parse(m.ts) >= endsAt),
        `${id} streams again`,
      );
    }
  }
});
