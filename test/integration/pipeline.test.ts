import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { fnv1a32 } from '../../src/model/fnv1a.js';
import { http, startApp, type TestApp, waitFor } from '../support/app.js';
import { consumeAll, testKafka, topicSize, uniqueTopic } from '../support/kafka.js';

const topic = uniqueTopic('pipeline');
let t: TestApp;

before(async () => {
  t = await startApp({ KAFKA_TOPIC: topic, FLEETSIM_AUTOSTART: 'true', KAFKA_COMPRESSION: 'none' });
});
after(async () => t?.close());

test('a 1000-device fleet at 1 s streams every device, keyed, partitioned and in order', async () => {
  const created = await http(t.url, 'POST', '/api/v1/fleets', {
    name: 'Pipeline',
    deviceCount: 1000,
    intervalMs: 1000,
    seed: 42,
  });
  assert.equal(created.status, 201);
  const startedAt = Date.now();
  // Let it run for about five intervals, then pause: queued messages are still sent.
  await waitFor('five intervals', async () => {
    const s = (await http(t.url, 'GET', '/api/v1/simulation')).body;
    return s.produced >= 5000 ? s : undefined;
  });
  const stopped = await http(t.url, 'POST', '/api/v1/simulation/stop');
  assert.equal(stopped.body.state, 'stopped');
  const ranMs = Date.now() - startedAt;
  await t.drained();

  const producer = (await http(t.url, 'GET', '/api/v1/producer')).body;
  assert.equal(producer.failed, 0);
  assert.equal(producer.dropped, 0);
  assert.equal(producer.queued + producer.inFlight, 0);
  assert.equal(
    producer.generated,
    producer.acknowledged,
    'every generated reading was acknowledged',
  );
  assert.ok(producer.balanced);
  assert.equal(producer.partitions, 6);

  const admin = testKafka().admin();
  await admin.connect();
  const inTopic = await topicSize(admin, topic);
  await admin.disconnect();
  assert.equal(inTopic, producer.acknowledged, 'the topic holds exactly the acknowledged messages');

  const messages = await consumeAll(topic);
  assert.equal(messages.length, producer.acknowledged);

  const byDevice = new Map<string, typeof messages>();
  for (const m of messages) {
    assert.equal(m.key, m.json.deviceId, 'key = device id');
    assert.equal(
      m.partition,
      fnv1a32(m.key) % 6,
      `${m.key} is on the partition its FNV-1a hash names`,
    );
    byDevice.set(m.key, [...(byDevice.get(m.key) ?? []), m]);
  }
  assert.equal(byDevice.size, 1000, 'every device appears');

  for (const [id, list] of byDevice) {
    // Within a partition, offsets give the order the broker stored them in.
    list.sort((a, b) => a.offset - b.offset);
    list.forEach((m, i) => assert.equal(m.json.seq, i, `${id} seq ${m.json.seq} at position ${i}`));
    for (let i = 1; i < list.length; i++) {
      const gap = Date.parse(list[i].json.ts as string) - Date.parse(list[i - 1].json.ts as string);
      assert.equal(gap, 1000, `${id} readings one interval apart`);
    }
  }

  // The count matches the schedule: 1000 msg/s for the time it ran, within one interval.
  const counts = [...byDevice.values()].map((l) => l.length);
  assert.ok(
    Math.max(...counts) - Math.min(...counts) <= 1,
    'every device emitted the same number of readings, ±1',
  );
  const expected = (ranMs / 1000) * 1000;
  assert.ok(
    Math.abs(messages.length - expected) <= 1000 + 0.1 * expected,
    `${messages.length} messages for ${ranMs} ms at 1000 msg/s`,
  );

  const sample = messages[0].json as any;
  assert.deepEqual(Object.keys(sample), [
    'deviceId',
    'fleetId',
    'seq',
    'ts',
    'location',
    'readings',
    'anomaly',
  ]);
  assert.equal(sample.fleetId, 'pipeline');
  assert.match(sample.ts, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  assert.deepEqual(Object.keys(sample.location), ['building', 'floor', 'room']);
  assert.deepEqual(Object.keys(sample.readings), [
    'temperature',
    'humidity',
    'pressure',
    'switch',
    'current',
  ]);
  assert.equal(typeof sample.readings.switch, 'boolean');
  assert.equal(sample.anomaly, null);
  for (const m of messages) {
    const r = (m.json as any).readings;
    assert.ok(r.temperature >= -10 && r.temperature <= 60);
    assert.ok(r.humidity >= 0 && r.humidity <= 100);
    assert.ok(r.pressure >= 950 && r.pressure <= 1050);
    assert.ok(r.current >= 0 && r.current <= 10);
  }
  const device = await http(t.url, 'GET', `/api/v1/devices/${encodeURIComponent(sample.deviceId)}`);
  assert.equal(device.status, 200);
  assert.equal(device.body.nextSeq, byDevice.get(sample.deviceId)!.length);
  assert.equal(device.body.partition, fnv1a32(sample.deviceId) % 6);
});
