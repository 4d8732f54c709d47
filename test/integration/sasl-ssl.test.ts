import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import kafkajs, { type SASLOptions } from 'kafkajs';
import { createTestCa, EmbeddedKafka, type SaslUser } from '../../src/kafka/embedded-kafka.js';
import { uniqueTopic } from '../support/kafka.js';

// The embedded Kafka's optional SASL_SSL listener, which stands in for a secured cluster.
const broker = new EmbeddedKafka({ port: 0, heap: '384m', saslSsl: true });
const otherCaDir = mkdtempSync(join(tmpdir(), 'fleetsim-other-ca-'));

before(async () => {
  await broker.start();
});
after(async () => {
  await broker.stop();
  rmSync(otherCaDir, { recursive: true, force: true });
});

function secureKafka(
  user: SaslUser,
  password = user.password,
  ca = broker.saslSsl!.caPem,
  retries = 5,
) {
  return new kafkajs.Kafka({
    clientId: 'fleetsim-sasl-test',
    brokers: broker.saslSsl!.brokers,
    ssl: { ca: [ca], servername: broker.saslSsl!.serverName },
    sasl: { mechanism: user.mechanism, username: user.username, password } as SASLOptions,
    logLevel: kafkajs.logLevel.NOTHING,
    retry: { retries },
    connectionTimeout: 5000,
  });
}

async function roundTrip(user: SaslUser): Promise<string> {
  const kafka = secureKafka(user);
  const topic = uniqueTopic(`sasl-${user.mechanism}`);
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic, numPartitions: 1 }], waitForLeaders: true });
  await admin.disconnect();
  const producer = kafka.producer({ createPartitioner: kafkajs.Partitioners.DefaultPartitioner });
  await producer.connect();
  const value = `hello over SASL_SSL as ${user.username}`;
  const [result] = await producer.send({ topic, acks: -1, messages: [{ key: 'k', value }] });
  await producer.disconnect();
  assert.equal(result.errorCode, 0);

  const consumer = kafka.consumer({ groupId: `${topic}-reader`, maxWaitTimeInMs: 200 });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  const read = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no message within 60 s')), 60_000);
    consumer
      .run({
        eachMessage: async ({ message }) => {
          clearTimeout(timer);
          resolve(message.value!.toString());
        },
      })
      .catch(reject);
  });
  await consumer.disconnect();
  return read;
}

test('the listener exposes its address, CA and one user per mechanism', () => {
  const sasl = broker.saslSsl!;
  assert.ok(sasl, 'saslSsl is set once started');
  assert.match(sasl.brokers[0], /^127\.0\.0\.1:\d+$/);
  assert.notEqual(sasl.brokers[0], broker.brokers[0], 'its own port, beside PLAINTEXT');
  assert.match(readFileSync(sasl.caPemPath, 'utf8'), /^-----BEGIN CERTIFICATE-----/);
  assert.equal(sasl.caPem, readFileSync(sasl.caPemPath, 'utf8'));
  assert.deepEqual(
    [sasl.users.plain, sasl.users.scramSha256, sasl.users.scramSha512].map((u) => u.mechanism),
    ['plain', 'scram-sha-256', 'scram-sha-512'],
  );
});

test('SCRAM-SHA-512 over TLS: produce and consume one message', async () => {
  const user = broker.saslSsl!.users.scramSha512;
  assert.equal(await roundTrip(user), `hello over SASL_SSL as ${user.username}`);
});

test('SCRAM-SHA-256 over TLS: produce and consume one message', async () => {
  const user = broker.saslSsl!.users.scramSha256;
  assert.equal(await roundTrip(user), `hello over SASL_SSL as ${user.username}`);
});

test('PLAIN over TLS: produce and consume one message', async () => {
  const user = broker.saslSsl!.users.plain;
  assert.equal(await roundTrip(user), `hello over SASL_SSL as ${user.username}`);
});

test('a wrong password fails with an authentication error', async () => {
  for (const user of [broker.saslSsl!.users.scramSha512, broker.saslSsl!.users.plain]) {
    const admin = secureKafka(user, 'not-the-password', undefined, 0).admin();
    await assert.rejects(admin.connect(), (err: Error) => {
      assert.equal(err.name, 'KafkaJSSASLAuthenticationError', `${user.mechanism}: ${err.message}`);
      assert.match(err.message, /authentication failed/i);
      return true;
    });
    await admin.disconnect().catch(() => {});
  }
});

test('a CA that did not sign the broker certificate fails with a TLS error', async () => {
  const other = createTestCa(otherCaDir, 'some other CA');
  const admin = secureKafka(
    broker.saslSsl!.users.scramSha512,
    undefined,
    readFileSync(other.certPath, 'utf8'),
    0,
  ).admin();
  await assert.rejects(admin.connect(), (err: Error & { cause?: unknown }) => {
    // kafkajs wraps the socket's TLS error; its text names the certificate problem.
    assert.match(`${err.message} ${String(err.cause ?? '')}`, /certificate/i, err.message);
    return true;
  });
  await admin.disconnect().catch(() => {});
  // The plaintext listener is unaffected.
  assert.equal(broker.running, true);
});
