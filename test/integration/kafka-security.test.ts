import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { KAFKA_CLIENTS } from '../../src/config/fleetsim.config.js';
import { createTestCa, EmbeddedKafka, type SaslUser } from '../../src/kafka/embedded-kafka.js';
import { http, startApp, type TestApp, waitFor } from '../support/app.js';
import { consumeAll, uniqueTopic } from '../support/kafka.js';
import { spawnServer } from '../support/server.js';

// fleetsim against the embedded Kafka's SASL_SSL listener (a CA and broker certificate made
// with openssl, SCRAM users made by kafka-storage), with each engine. Readings are read back
// through the broker's plaintext listener.
const broker = new EmbeddedKafka({ port: 0, heap: '384m', saslSsl: true });
const dir = mkdtempSync(join(tmpdir(), 'fleetsim-kafka-security-'));
const MERGE_PATCH = { 'content-type': 'application/merge-patch+json' };
const WRONG = 'wrong-Pa55word-zz';

before(async () => {
  await broker.start();
});
after(async () => {
  await broker.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** The env an operator would set for the listener: CA and password from files. */
function secureEnv(
  engine: string,
  user: SaslUser,
  overrides: { password?: string; caPath?: string } = {},
): Record<string, string> {
  const sasl = broker.saslSsl!;
  const passwordFile = join(dir, `${user.username}-${Math.random().toString(36).slice(2)}.pw`);
  writeFileSync(passwordFile, `${overrides.password ?? user.password}\n`);
  return {
    KAFKA_CLIENT: engine,
    KAFKA_BROKERS: sasl.brokers.join(','),
    KAFKA_TOPIC: uniqueTopic(`secure-${engine}-${user.mechanism}`),
    KAFKA_TOPIC_PARTITIONS: '3',
    KAFKA_TLS_ENABLED: 'true',
    KAFKA_TLS_CA_FILE: overrides.caPath ?? sasl.caPemPath,
    KAFKA_TLS_SERVERNAME: sasl.serverName,
    KAFKA_SASL_MECHANISM: user.mechanism,
    KAFKA_SASL_USERNAME: user.username,
    KAFKA_SASL_PASSWORD_FILE: passwordFile,
    FLEETSIM_AUTOSTART: 'true',
  };
}

async function addFleet(app: TestApp): Promise<void> {
  const created = await http(app.url, 'POST', '/api/v1/fleets', {
    name: 'secure',
    deviceCount: 50,
    intervalMs: 100,
    seed: 11,
  });
  assert.equal(created.status, 201, JSON.stringify(created.body));
}

const producer = async (app: TestApp) => (await http(app.url, 'GET', '/api/v1/producer')).body;

/** Streams until `n` readings are acknowledged, stops, and checks a consumer reads them all. */
async function streamsAndReadsBack(app: TestApp, topic: string, n: number): Promise<void> {
  await waitFor(`${n} readings acknowledged`, async () =>
    (await producer(app)).acknowledged >= n ? true : undefined,
  );
  assert.equal((await http(app.url, 'POST', '/api/v1/simulation/stop')).status, 200);
  await app.drained();
  const books = await producer(app);
  assert.equal(books.failed, 0);
  const read = await consumeAll(topic, broker.brokers);
  assert.equal(read.length, books.acknowledged, 'every acknowledged reading is in the topic');
  assert.ok(
    read.every((m) => m.json.fleetName === 'secure' || typeof m.json.deviceId === 'string'),
  );
}

/**
 * Waits for the producer to report the cause and readiness to be false, and checks nothing
 * was acknowledged and the password is not echoed.
 */
async function notReadyBecause(app: TestApp, cause: RegExp): Promise<void> {
  let last: unknown;
  const status = await waitFor('the producer to report the cause', async () => {
    const s = await producer(app);
    last = s;
    return s.generated > 0 && cause.test(s.connectError ?? '') ? s : undefined;
  }).catch((err: Error) => {
    throw new Error(`${err.message}; last answer: ${JSON.stringify(last)}`);
  });
  assert.equal(status.connected, false);
  assert.equal(status.acknowledged, 0, 'nothing counted as acknowledged');
  assert.ok(!JSON.stringify(status).includes(WRONG), 'the password is never echoed');
  const ready = await http(app.url, 'GET', '/health/ready');
  assert.equal(ready.status, 503, 'not ready');
  assert.ok(!JSON.stringify(ready.body).includes(WRONG));
}

// SECURITY_ENGINES=kafkajs (say) runs one engine only; by default every engine runs.
for (const engine of process.env.SECURITY_ENGINES?.split(',') ?? KAFKA_CLIENTS) {
  test(`${engine}: SCRAM-SHA-512 over TLS (CA and password from files) streams readings a consumer reads back; secrets are masked`, async (t) => {
    const user = broker.saslSsl!.users.scramSha512;
    const env = secureEnv(engine, user);
    const app = await startApp(env);
    t.after(() => app.close());
    const config = await http(app.url, 'GET', '/api/v1/config');
    assert.equal(config.body.config.kafka.tls.enabled, true);
    assert.match(config.body.config.kafka.tls.ca, /BEGIN CERTIFICATE/);
    assert.equal(config.body.config.kafka.sasl.password, '********');
    assert.equal(config.body.sources['kafka.sasl.password'], 'env');
    assert.ok(!JSON.stringify(config.body).includes(user.password));
    assert.equal((await http(app.url, 'GET', '/health/ready')).status, 200);
    await addFleet(app);
    await streamsAndReadsBack(app, env.KAFKA_TOPIC, 300);
  });

  test(`${engine}: PLAIN and SCRAM-SHA-256 over TLS stream readings a consumer reads back`, async (t) => {
    for (const user of [broker.saslSsl!.users.plain, broker.saslSsl!.users.scramSha256]) {
      const env = secureEnv(engine, user);
      const app = await startApp(env);
      await t.test(user.mechanism, async () => {
        try {
          await addFleet(app);
          await streamsAndReadsBack(app, env.KAFKA_TOPIC, 100);
        } finally {
          await app.close();
        }
      });
    }
  });

  test(`${engine}: a wrong password names the user and cause, keeps readiness false and acknowledges nothing; PATCHing the password recovers`, async (t) => {
    const user = broker.saslSsl!.users.scramSha512;
    const env = secureEnv(engine, user, { password: WRONG });
    const app = await startApp(env, { waitForKafka: false });
    t.after(() => app.close());
    await addFleet(app);
    await notReadyBecause(
      app,
      new RegExp(`SASL authentication failed for user ${user.username} \\(SCRAM-SHA-512\\)`),
    );

    const still = await http(
      app.url,
      'PATCH',
      '/api/v1/config',
      { kafka: { sasl: { password: `${WRONG}-2` } } },
      MERGE_PATCH,
    );
    assert.equal(still.status, 503, 'a password that still fails is refused');
    assert.match(still.body.detail, /SASL authentication failed for user/);
    assert.ok(!JSON.stringify(still.body).includes(`${WRONG}-2`));

    const fixed = await http(
      app.url,
      'PATCH',
      '/api/v1/config',
      { kafka: { sasl: { password: user.password } } },
      MERGE_PATCH,
    );
    assert.equal(fixed.status, 200, JSON.stringify(fixed.body));
    assert.equal(fixed.body.config.kafka.sasl.password, '********');
    assert.equal(fixed.body.sources['kafka.sasl.password'], 'api');
    const status = await producer(app);
    assert.equal(status.connected, true);
    assert.equal(status.connectError, undefined);
    await waitFor('readiness once the password is fixed', async () =>
      (await http(app.url, 'GET', '/health/ready')).status === 200 ? true : undefined,
    );
    await streamsAndReadsBack(app, env.KAFKA_TOPIC, 200);
  });

  test(`${engine}: an untrusted CA gives a certificate error, readiness false, nothing acknowledged; PATCHing the CA recovers`, async (t) => {
    const other = createTestCa(join(dir, `other-ca-${engine}`), 'some other CA');
    const user = broker.saslSsl!.users.scramSha256;
    const env = secureEnv(engine, user, { caPath: other.certPath });
    const app = await startApp(env, { waitForKafka: false });
    t.after(() => app.close());
    await addFleet(app);
    await notReadyBecause(app, /TLS certificate verify failed/);

    const fixed = await http(
      app.url,
      'PATCH',
      '/api/v1/config',
      { kafka: { tls: { ca: readFileSync(broker.saslSsl!.caPemPath, 'utf8') } } },
      MERGE_PATCH,
    );
    assert.equal(fixed.status, 200, JSON.stringify(fixed.body));
    await streamsAndReadsBack(app, env.KAFKA_TOPIC, 200);
  });
}

test('the server process logs the cause of a failed authentication, and never the password', async (t) => {
  const user = broker.saslSsl!.users.plain;
  const server = await spawnServer({ ...secureEnv('platformatic', user, { password: WRONG }) });
  t.after(() => server.kill());
  const line = await server.waitForLine('a warning naming the cause', (l) =>
    /SASL authentication failed for user/.test(l.message),
  );
  assert.equal(line.level, 'warn');
  assert.match(line.message, new RegExp(`user ${user.username} \\(PLAIN\\)`));
  await server.waitForLine('the security in use', (l) =>
    /Kafka connection security: TLS, SASL PLAIN as user/.test(l.message),
  );
  const all = [...server.lines.map((l) => JSON.stringify(l)), ...server.other].join('\n');
  assert.ok(!all.includes(WRONG), 'the password is in no log line');
});
