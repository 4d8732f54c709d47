/**
 * The whole server with FLEETSIM_VALUE_FORMAT=protobuf (and zstd compression): every message
 * in the topic decodes with protobufjs from the committed proto/reading.proto and agrees with
 * the key, the partitioning rule, the fleets' sensors and the REST view of each device.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import protobuf from 'protobufjs';
import { projectRoot } from '../../src/kafka/project-root.js';
import { fnv1a32 } from '../../src/model/fnv1a.js';
import { http, startApp, waitFor } from '../support/app.js';
import { consumeAll, testBrokers, uniqueTopic } from '../support/kafka.js';

const Reading = protobuf
  .loadSync(join(projectRoot(), 'proto', 'reading.proto'))
  .lookupType('fleetsim.v1.Reading');

const PARTITIONS = 3;
const FLEETS = [
  { name: 'Proto Plant', id: 'proto-plant', deviceCount: 30, seed: 42 },
  { name: 'Proto Switches', id: 'proto-switches', deviceCount: 10, seed: 7 },
];
const SENSORS: Record<string, string[]> = {
  'proto-plant': ['current', 'humidity', 'pressure', 'switch', 'temperature'],
  'proto-switches': ['current', 'switch'],
};
const RANGES: Record<string, [number, number]> = {
  temperature: [-10, 60],
  humidity: [0, 100],
  pressure: [950, 1050],
  current: [0, 10],
};

void test('FLEETSIM_VALUE_FORMAT=protobuf: messages decode with protobufjs and agree with REST', async () => {
  const topic = uniqueTopic('protobuf');
  const app = await startApp({
    KAFKA_TOPIC: topic,
    KAFKA_TOPIC_PARTITIONS: String(PARTITIONS),
    KAFKA_COMPRESSION: 'zstd',
    FLEETSIM_VALUE_FORMAT: 'protobuf',
    FLEETSIM_AUTOSTART: 'false',
    FLEETSIM_ANOMALY_RATE: '0.1',
  });
  try {
    for (const f of FLEETS) {
      const res = await http(app.url, 'POST', '/api/v1/fleets', {
        name: f.name,
        deviceCount: f.deviceCount,
        intervalMs: 100,
        seed: f.seed,
        ...(f.id === 'proto-switches' ? { sensors: ['switch', 'current'] } : {}),
      });
      assert.equal(res.status, 201, JSON.stringify(res.body));
      assert.equal(res.body.id, f.id);
    }
    assert.equal((await http(app.url, 'POST', '/api/v1/simulation/start')).status, 200);
    await waitFor('1200 readings acknowledged', async () => {
      const s = (await http(app.url, 'GET', '/api/v1/simulation')).body;
      return s.acknowledged >= 1200 ? s : undefined;
    });
    assert.equal((await http(app.url, 'POST', '/api/v1/simulation/stop')).status, 200);
    await app.drained();
    const status = (await http(app.url, 'GET', '/api/v1/simulation')).body;
    assert.equal(status.failed, 0);
    assert.equal(status.dropped, 0);
    assert.equal(status.acknowledged, status.produced);

    const messages = await consumeAll(topic, testBrokers(), false);
    assert.equal(
      messages.length,
      status.acknowledged,
      'every acknowledged reading is in the topic',
    );

    const byDevice = new Map<string, Record<string, any>[]>();
    let anomalous = 0;
    for (const m of messages) {
      assert.notEqual(m.value[0], '{'.charCodeAt(0), 'the value is not JSON');
      const r = Reading.toObject(Reading.decode(m.value), { longs: Number, defaults: true });
      const id: string = r.deviceId;
      assert.equal(m.key, id, 'key = device id');
      assert.equal(m.partition, fnv1a32(id) % PARTITIONS, `${id}: FNV-1a partition`);
      assert.ok(id.startsWith(`${r.fleetId}.`), id);
      const [b, f, room] = id.split('.').slice(1, 4);
      assert.deepEqual(r.location, {
        building: +b.slice(1),
        floor: +f.slice(1),
        room: +room.slice(1),
      });
      assert.deepEqual(Object.keys(r.readings).sort(), SENSORS[r.fleetId], `${id} sensors`);
      for (const [sensor, value] of Object.entries(r.readings)) {
        if (sensor === 'switch') assert.equal(typeof value, 'boolean');
        else {
          const [lo, hi] = RANGES[sensor];
          assert.ok((value as number) >= lo && (value as number) <= hi, `${id} ${sensor} ${value}`);
          assert.equal(Math.round((value as number) * 100) / 100, value, 'two decimals');
        }
      }
      if (r.anomaly) {
        anomalous++;
        assert.ok(r.anomaly.id && r.anomaly.kind && r.anomaly.sensor, JSON.stringify(r.anomaly));
      }
      const tsMs = r.ts.seconds * 1000 + r.ts.nanos / 1e6;
      const seen = byDevice.get(id) ?? [];
      seen.push({ ...r, tsMs });
      byDevice.set(id, seen);
    }
    assert.equal(byDevice.size, 40, 'every device sent readings');
    assert.ok(anomalous > 0, 'some readings carry an anomaly label');

    // Every reading of a device exactly once and in order in its partition (the consumer hands
    // a partition's messages over in offset order): seq 0 … n-1, event time rising with seq.
    const last = new Map<string, Record<string, any>>();
    for (const [id, readings] of byDevice) {
      assert.deepEqual(
        readings.map((r) => r.seq),
        readings.map((_, i) => i),
        `${id} seq`,
      );
      for (let i = 1; i < readings.length; i++) {
        assert.ok(readings[i].tsMs > readings[i - 1].tsMs, `${id} ts rises with seq`);
      }
      last.set(id, readings[readings.length - 1]);
    }

    // The latest reading of each device is what the REST API reports as its last reading.
    for (const [id, r] of last) {
      const res = await http(app.url, 'GET', `/api/v1/devices/${id}`);
      assert.equal(res.status, 200);
      const rest = res.body.lastReading;
      assert.equal(rest.seq, r.seq, `${id} seq`);
      assert.equal(rest.ts, new Date(r.tsMs).toISOString(), `${id} ts`);
      assert.deepEqual(rest.readings, r.readings, `${id} readings`);
      assert.deepEqual(rest.anomaly, r.anomaly ?? null, `${id} anomaly`);
      assert.equal(res.body.partition, fnv1a32(id) % PARTITIONS);
    }
  } finally {
    await app.close();
  }
});
