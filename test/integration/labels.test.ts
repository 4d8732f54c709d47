/**
 * The label topic and record headers against the real broker: anomaly lifecycle events land
 * on kafka.labelTopic keyed by anomaly id, and readings carry content-type, fleet-id, schema
 * and (when labelled) anomaly-kind headers.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { http, startApp, type TestApp, waitFor } from '../support/app.js';
import { consumeAll, testKafka, topicSize, uniqueTopic } from '../support/kafka.js';

let t: TestApp;
let topic: string;
let labelTopic: string;

before(async () => {
  topic = uniqueTopic('labels-readings');
  labelTopic = uniqueTopic('labels');
  t = await startApp({ KAFKA_TOPIC: topic, KAFKA_LABEL_TOPIC: labelTopic, KAFKA_LINGER_MS: '5' });
});

after(async () => {
  await t?.close();
});

test('anomaly lifecycle events go to the label topic; readings carry headers', async () => {
  const call = (method: string, path: string, body?: unknown) => http(t.url, method, path, body);
  const fleet = await call('POST', '/api/v1/fleets', {
    name: 'Label Plant',
    deviceCount: 4,
    intervalMs: 100,
    layout: { buildings: 1, floorsPerBuilding: 2, roomsPerFloor: 1 },
    seed: 7,
  });
  assert.equal(fleet.status, 201, JSON.stringify(fleet.body));
  const spike = await call('POST', '/api/v1/anomalies', {
    target: { fleetId: 'label-plant', floor: 2 },
    sensor: 'temperature',
    kind: 'spike',
    durationMs: 1000,
    startInMs: 200,
  });
  assert.equal(spike.status, 201, JSON.stringify(spike.body));
  const stuck = await call('POST', '/api/v1/anomalies', {
    target: { fleetId: 'label-plant', floor: 1 },
    sensor: 'humidity',
    kind: 'stuck',
    durationMs: 60_000,
  });
  assert.equal(stuck.status, 201);
  assert.equal((await call('DELETE', `/api/v1/anomalies/${stuck.body.id}`)).status, 204);

  const admin = testKafka().admin();
  await admin.connect();
  try {
    // spike: injected, started, ended; stuck: injected, started, cancelled
    await waitFor('six label events', async () =>
      (await topicSize(admin, labelTopic).catch(() => 0)) >= 6 ? true : undefined,
    );
  } finally {
    await admin.disconnect();
  }
  await call('POST', '/api/v1/simulation/stop');
  await t.drained();

  const labels = await consumeAll(labelTopic);
  const events = (id: string) =>
    labels
      .filter((m) => m.key === id)
      .sort((a, b) => a.offset - b.offset)
      .map((m) => (m.json as unknown as { event: string }).event);
  assert.deepEqual(events(spike.body.id), ['injected', 'started', 'ended']);
  assert.deepEqual(events(stuck.body.id), ['injected', 'started', 'cancelled']);
  const started = labels.find(
    (m) => m.key === spike.body.id && (m.json as { event?: string }).event === 'started',
  )!;
  assert.equal(started.headers['content-type'], 'application/json');
  assert.deepEqual(
    { ...started.json, at: undefined },
    {
      event: 'started',
      anomalyId: spike.body.id,
      at: undefined,
      kind: 'spike',
      sensor: 'temperature',
      magnitude: 30,
      target: { fleetId: 'label-plant', floor: 2 },
      deviceCount: 2,
      devices: spike.body.devices,
      startsAt: spike.body.startsAt,
      endsAt: spike.body.endsAt,
      scenario: null,
      stage: null,
      backfill: null,
    },
  );
  assert.equal((started.json as unknown as { at: string }).at, spike.body.startsAt);

  const readings = await consumeAll(topic);
  assert.ok(readings.length > 0);
  for (const m of readings) {
    assert.equal(m.headers['content-type'], 'application/json');
    assert.equal(m.headers['fleet-id'], 'label-plant');
    assert.equal(m.headers.schema, 'urn:fleetsim:schema:reading:1');
    const anomaly = (m.json as unknown as { anomaly: { kind: string } | null }).anomaly;
    assert.equal(m.headers['anomaly-kind'], anomaly ? anomaly.kind : undefined);
  }
  assert.ok(
    readings.some((m) => m.headers['anomaly-kind'] === 'spike'),
    'labelled readings say their kind',
  );
});
