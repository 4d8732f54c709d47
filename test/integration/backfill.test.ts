/**
 * A day of a 100-device fleet at 10 s (864,000 readings) backfilled through the real broker:
 * every reading lands exactly once, in event-time order per device, with the day's trend in
 * simulated time (warmest around 15:00, coolest around 03:00 UTC).
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, test } from 'node:test';
import { http, startApp, type TestApp, waitFor } from '../support/app.js';
import { testKafka, topicSize, uniqueTopic } from '../support/kafka.js';

const DEVICES = 100;
const READINGS = DEVICES * 8640;
let t: TestApp;
let topic: string;

before(async () => {
  topic = uniqueTopic('backfill-day');
  t = await startApp({
    KAFKA_TOPIC: topic,
    KAFKA_COMPRESSION: 'lz4',
    FLEETSIM_AUTOSTART: 'false',
    FLEETSIM_TREND_STRENGTH: '1',
    KAFKA_BATCH_SIZE: '5000',
  });
});
after(async () => t?.close());

test('a 1-day backfill of 100 devices at 10 s lands exactly once, in order, with the diurnal trend', async () => {
  const created = await http(t.url, 'POST', '/api/v1/backfills', {
    fleet: { name: 'Day Plant', deviceCount: DEVICES, intervalMs: 10_000, seed: 11 },
    from: '2026-06-01T00:00:00Z',
    to: '2026-06-02T00:00:00Z',
  });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  assert.equal(created.body.progress.total, READINGS);
  const done = await waitFor(
    'the backfill to finish',
    async () => {
      const res = await http(t.url, 'GET', `/api/v1/backfills/${created.body.id}`);
      return res.body.state === 'running' ? undefined : res.body;
    },
    600_000,
  );
  assert.equal(done.state, 'done', JSON.stringify(done));
  const secs = (Date.parse(done.finishedAt) - Date.parse(done.startedAt)) / 1000;
  console.log(
    `backfill: ${READINGS} readings in ${secs.toFixed(1)} s (${Math.round(READINGS / secs)}/s)`,
  );
  assert.equal(done.progress.acknowledged, READINGS);
  const status = (await http(t.url, 'GET', '/api/v1/producer')).body;
  assert.equal(status.acknowledged, READINGS, 'the producer’s books count the backfill');
  assert.equal(status.failed + status.dropped, 0);
  assert.equal(status.balanced, true);

  const kafka = testKafka();
  const admin = kafka.admin();
  await admin.connect();
  const stored = await topicSize(admin, topic);
  await admin.disconnect();
  assert.equal(stored, READINGS, 'nothing more, nothing less on the topic');

  // Consume without keeping the messages: distinct (device, seq), order, hourly means.
  const seen = new Map<string, { seqs: Uint8Array; lastTs: number; lastSeq: number }>();
  const sum = new Float64Array(24);
  const count = new Float64Array(24);
  let consumed = 0;
  let duplicates = 0;
  let disorder = 0;
  const consumer = kafka.consumer({ groupId: `test-${randomUUID()}`, maxWaitTimeInMs: 200 });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`consumed ${consumed} in 300 s`)), 300_000);
    consumer
      .run({
        eachBatchAutoResolve: true,
        eachBatch: async ({ batch }) => {
          for (const m of batch.messages) {
            const r = JSON.parse(m.value!.toString()) as {
              deviceId: string;
              seq: number;
              ts: string;
              readings: { temperature: number };
            };
            let d = seen.get(r.deviceId);
            if (!d) {
              d = { seqs: new Uint8Array(8640), lastTs: -1, lastSeq: -1 };
              seen.set(r.deviceId, d);
            }
            if (d.seqs[r.seq]) duplicates++;
            d.seqs[r.seq] = 1;
            const ts = Date.parse(r.ts);
            if (ts <= d.lastTs || r.seq <= d.lastSeq) disorder++;
            d.lastTs = ts;
            d.lastSeq = r.seq;
            const hour = new Date(ts).getUTCHours();
            sum[hour] += r.readings.temperature;
            count[hour]++;
            consumed++;
          }
          if (consumed >= READINGS) {
            clearTimeout(timer);
            resolve();
          }
        },
      })
      .catch(reject);
  });
  await consumer.disconnect();

  assert.equal(seen.size, DEVICES);
  assert.equal(duplicates, 0);
  assert.equal(disorder, 0, 'per device, event time and seq only go up');
  let distinct = 0;
  for (const d of seen.values()) for (const b of d.seqs) distinct += b;
  assert.equal(distinct, READINGS, 'every (device, seq) once');
  const mean = [...sum].map((s, h) => s / count[h]);
  // The day's first harmonic of the hourly means peaks at the warmest hour (its trough,
  // twelve hours on, is the coolest); single hours are noisy (rooms share their noise).
  let c = 0;
  let si = 0;
  for (let h = 0; h < 24; h++) {
    c += mean[h] * Math.cos((2 * Math.PI * h) / 24);
    si += mean[h] * Math.sin((2 * Math.PI * h) / 24);
  }
  const warmest = ((((Math.atan2(si, c) * 24) / (2 * Math.PI)) % 24) + 24) % 24;
  const shown = mean.map((m) => m.toFixed(1)).join(' ');
  assert.ok(Math.abs(warmest - 15) <= 1.5, `warmest around ${warmest.toFixed(2)} h: ${shown}`);
  const around = (h: number) => (mean[h - 1] + mean[h] + mean[h + 1]) / 3;
  assert.ok(around(15) - around(3) > 10, `15:00 vs 03:00: ${shown}`);
  const coolest = (warmest + 12) % 24;
  assert.ok(Math.abs(coolest - 3) <= 1.5, `coolest around ${coolest.toFixed(2)} h`);
});
