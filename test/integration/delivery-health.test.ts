import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import kafkajs from 'kafkajs';
import { http, startApp, type TestApp, waitFor } from '../support/app.js';
import { testKafka, uniqueTopic } from '../support/kafka.js';

// Every send refused for good (here: the topic takes no record batch over 100 bytes, so the
// broker answers MESSAGE_TOO_LARGE, which no retry cures): the broker answers, the circuit
// stays closed, but readiness and a metric must show that nothing gets through.
const topic = uniqueTopic('refused');
let t: TestApp;

async function setMaxMessageBytes(bytes: number): Promise<void> {
  const admin = testKafka().admin();
  await admin.connect();
  try {
    await admin.alterConfigs({
      validateOnly: false,
      resources: [
        {
          type: kafkajs.ConfigResourceTypes.TOPIC,
          name: topic,
          configEntries: [{ name: 'max.message.bytes', value: String(bytes) }],
        },
      ],
    });
  } finally {
    await admin.disconnect();
  }
}

before(async () => {
  const admin = testKafka().admin();
  await admin.connect();
  await admin.createTopics({
    waitForLeaders: true,
    topics: [
      {
        topic,
        numPartitions: 2,
        replicationFactor: 1,
        configEntries: [{ name: 'max.message.bytes', value: '100' }],
      },
    ],
  });
  await admin.disconnect();
  t = await startApp({ KAFKA_TOPIC: topic, KAFKA_COMPRESSION: 'none', FLEETSIM_AUTOSTART: 'true' });
});
after(async () => t?.close());

const metric = async (name: string) => {
  const text = await (await fetch(`${t.url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`fleetsim_${name} `));
  return line === undefined ? undefined : Number(line.split(' ').at(-1));
};

test('when every send is refused for good, readiness is down and a metric says so; both recover', async () => {
  assert.equal((await http(t.url, 'GET', '/health/ready')).status, 200, 'ready before sending');
  const fleet = await http(t.url, 'POST', '/api/v1/fleets', {
    name: 'Refused',
    deviceCount: 20,
    intervalMs: 100,
  });
  assert.equal(fleet.status, 201);
  let last: unknown;
  const p = await waitFor('readiness down', async () => {
    const r = await http(t.url, 'GET', '/health/ready');
    const producer = (await http(t.url, 'GET', '/api/v1/producer')).body;
    last = { ready: r.body, producer };
    return r.status === 503 && producer.consecutiveRefusals >= 3 ? producer : undefined;
  }).catch((err: Error) => {
    throw new Error(`${err.message}: ${JSON.stringify(last)}`);
  });
  // Kafka answers and the circuit is closed: only the refusals can have made readiness fail.
  assert.equal(p.connected, true);
  assert.equal(p.circuit, 'closed', 'the broker answers: circuit closed');
  assert.equal(p.acknowledged, 0);
  assert.ok(p.failed > 0);
  assert.ok(p.balanced);
  assert.equal(await metric('producer_delivery_failing'), 1);
  assert.ok(((await metric('producer_consecutive_refusals')) ?? 0) >= 3);

  await setMaxMessageBytes(1024 * 1024);
  await waitFor(
    'readiness back',
    async () => ((await http(t.url, 'GET', '/health/ready')).status === 200 ? true : undefined),
    60_000,
  );
  assert.equal(await metric('producer_delivery_failing'), 0);
  const after = (await http(t.url, 'GET', '/api/v1/producer')).body;
  assert.ok(after.acknowledged > 0);
  assert.equal(after.consecutiveRefusals, 0);
});

test('with acks=0 readings count as sent, not acknowledged, and the books balance', async (t) => {
  const app = await startApp({
    KAFKA_TOPIC: uniqueTopic('acks0'),
    KAFKA_COMPRESSION: 'none',
    KAFKA_IDEMPOTENT: 'false',
    KAFKA_ACKS: '0',
    FLEETSIM_AUTOSTART: 'true',
  });
  t.after(() => app.close());
  await http(app.url, 'POST', '/api/v1/fleets', {
    name: 'NoAcks',
    deviceCount: 50,
    intervalMs: 100,
  });
  await waitFor('readings sent', async () => {
    const p = (await http(app.url, 'GET', '/api/v1/producer')).body;
    return p.sent >= 500 ? true : undefined;
  });
  await http(app.url, 'POST', '/api/v1/simulation/stop');
  await app.drained();
  const p = (await http(app.url, 'GET', '/api/v1/producer')).body;
  assert.equal(p.acknowledged, 0, 'Kafka acknowledges nothing with acks=0');
  assert.equal(p.sent, p.generated);
  assert.ok(p.balanced);
  const text = await (await fetch(`${app.url}/metrics`)).text();
  assert.match(text, new RegExp(`^fleetsim_messages_sent_total ${p.sent}$`, 'm'));
});
