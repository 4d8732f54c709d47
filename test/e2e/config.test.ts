import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { http, startApp, type TestApp, waitFor } from '../support/app.js';
import { uniqueTopic } from '../support/kafka.js';

const MERGE_PATCH = { 'content-type': 'application/merge-patch+json' };
let app: TestApp;
let topic: string;

before(async () => {
  topic = uniqueTopic('config-e2e');
  app = await startApp({ LOG_LEVEL: 'error', KAFKA_TOPIC: topic, FLEETSIM_AUTOSTART: 'false' });
});
after(() => app.close());

const get = async () => (await http(app.url, 'GET', '/api/v1/config')).body;
const patch = (body: unknown, headers: Record<string, string> = MERGE_PATCH) =>
  http(app.url, 'PATCH', '/api/v1/config', body, headers);
const changes = async (result: string) => {
  const text = await (await fetch(`${app.url}/metrics`)).text();
  const match = new RegExp(`^fleetsim_config_changes_total\\{result="${result}"\\} (\\d+)$`, 'm');
  return Number(match.exec(text)?.[1]);
};

test('GET /api/v1/config shows the settings in force, where each came from, and the boot-only ones', async () => {
  const res = await http(app.url, 'GET', '/api/v1/config');
  assert.equal(res.status, 200);
  const view = res.body;
  assert.equal(view.version, 1);
  assert.equal(view.config.kafka.topic, topic);
  assert.equal(view.config.producer.lingerMs, 5);
  assert.equal(view.sources['kafka.topic'], 'env');
  assert.equal(view.sources['server.port'], 'env');
  assert.equal(view.sources['producer.lingerMs'], 'default');
  assert.deepEqual(view.immutable, [
    'cluster.checkpointMs',
    'cluster.enabled',
    'cluster.handoverTimeoutMs',
    'cluster.name',
    'cluster.sessionTimeoutMs',
    'kafka.brokers',
    'kafka.embedded.heap',
    'kafka.embedded.port',
    'kafka.schemaRegistry.startWaitMs',
    'kafka.schemaRegistry.url',
    'kafka.topicPartitions',
    'kafka.topicReplicationFactor',
    'limits.bufferMemoryFraction',
    'limits.maxAnomalyDevices',
    'limits.maxBatchSize',
    'limits.maxDevices',
    'limits.maxTargetRate',
    'server.auth.healthRequiresKey',
    'server.auth.metricsRequiresKey',
    'server.bodyLimitBytes',
    'server.cors.origins',
    'server.host',
    'server.port',
    'server.rateLimit.max',
    'server.rateLimit.windowMs',
    'server.requireIfMatch',
    'server.shutdownGraceMs',
    'simulation.autoStart',
    'simulation.fleets',
  ]);
});

test('PATCH applies a merge patch, bumps the version, and GET then says the same', async () => {
  const applied = await changes('applied');
  const res = await patch({
    producer: { lingerMs: 20 },
    simulation: { tickMs: 20, dataVariation: 0.25 },
  });
  assert.equal(res.status, 200, JSON.stringify(res.body));
  assert.equal(res.body.version, 2);
  assert.equal(res.body.config.producer.lingerMs, 20);
  assert.equal(res.body.config.simulation.tickMs, 20);
  assert.equal(res.body.sources['producer.lingerMs'], 'api');
  assert.equal(res.body.sources['simulation.tickMs'], 'api');
  assert.equal(res.body.sources['producer.batchSize'], 'default');
  assert.deepEqual(await get(), res.body);
  const simulation = await http(app.url, 'GET', '/api/v1/simulation');
  assert.equal(simulation.body.params.dataVariation, 0.25, 'the simulation uses it');
  assert.equal(await changes('applied'), applied + 1);

  // application/json works too; null puts a setting back to its default.
  const reset = await patch({ producer: { lingerMs: null } }, {});
  assert.equal(reset.status, 200, JSON.stringify(reset.body));
  assert.equal(reset.body.version, 3);
  assert.equal(reset.body.config.producer.lingerMs, 5);
  assert.equal(reset.body.config.simulation.tickMs, 20);

  // A patch that changes nothing is not a new version.
  const same = await patch({ simulation: { tickMs: 20 } });
  assert.equal(same.status, 200);
  assert.equal(same.body.version, 3);
});

test('PATCH with bad values is refused whole with 400 naming each field and rule', async () => {
  const beforeView = await get();
  const rejected = await changes('rejected');
  const res = await patch({
    producer: { lingerMs: -1, batchSize: 10, turbo: true },
    simulation: { anomalyRate: 'high', dataVariation: 2 },
  });
  assert.equal(res.status, 400);
  assert.match(res.type, /^application\/problem\+json/);
  assert.deepEqual(res.body.errors, [
    { field: 'producer.turbo', rule: 'unknown', message: 'producer.turbo is not a known field' },
    {
      field: 'producer.lingerMs',
      rule: 'min',
      message: 'producer.lingerMs must not be less than 0',
    },
    {
      field: 'simulation.dataVariation',
      rule: 'max',
      message: 'simulation.dataVariation must not be greater than 1',
    },
    {
      field: 'simulation.anomalyRate',
      rule: 'isNumber',
      message: 'simulation.anomalyRate must be a number conforming to the specified constraints',
    },
  ]);
  assert.match(res.body.detail, /nothing was changed/);
  assert.deepEqual(await get(), beforeView, 'the valid part (batchSize) was not applied either');
  assert.equal(await changes('rejected'), rejected + 1);
});

test('PATCH whose values are all valid but whose result breaks a rule between settings is 422', async () => {
  const beforeView = await get();
  const ca = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----';
  // A CA without kafka.tls.enabled, and a SASL mechanism without its user and password.
  const res = await patch({ kafka: { tls: { ca }, sasl: { mechanism: 'plain' } } });
  assert.equal(res.status, 422, JSON.stringify(res.body));
  assert.match(res.type, /^application\/problem\+json/);
  assert.deepEqual(
    res.body.errors.map((e: { field: string; rule: string }) => [e.field, e.rule]),
    [
      ['kafka.tls.enabled', 'enabledWithMaterial'],
      ['kafka.sasl.username', 'isDefined'],
      ['kafka.sasl.password', 'isDefined'],
    ],
  );
  assert.deepEqual(await get(), beforeView);
  // The same values beside one invalid in itself: 400, as the patch's schema says.
  const mixed = await patch({ kafka: { tls: { ca }, clientId: '' } });
  assert.equal(mixed.status, 400, JSON.stringify(mixed.body));
});

test('PATCH: a value is held to its own rules even where no setting needs it (400)', async () => {
  // SASL is off (mechanism none): an empty user or a token URL that is no URL is still wrong,
  // as the schema of the patch says.
  const res = await patch({ kafka: { sasl: { username: '', tokenUrl: 'nowhere' } } });
  assert.equal(res.status, 400, JSON.stringify(res.body));
  assert.deepEqual(
    res.body.errors.map((e: { field: string; rule: string }) => [e.field, e.rule]),
    [
      ['kafka.sasl.username', 'minLength'],
      ['kafka.sasl.tokenUrl', 'matches'],
    ],
  );
  // An empty label topic is no label topic: valid, and here no change.
  const none = await patch({ kafka: { labelTopic: '' } });
  assert.equal(none.status, 200, JSON.stringify(none.body));
  const bad = await patch({ kafka: { labelTopic: 'no spaces' } });
  assert.equal(bad.status, 400, JSON.stringify(bad.body));
});

test('PATCH of a boot-only setting is refused with 409 saying which and why', async () => {
  const beforeView = await get();
  const res = await patch({
    server: { port: 1 },
    kafka: { brokers: ['x:1'] },
    producer: { lingerMs: 30 },
  });
  assert.equal(res.status, 409);
  assert.match(res.type, /^application\/problem\+json/);
  assert.deepEqual(
    res.body.errors.map((e: { field: string; rule: string }) => [e.field, e.rule]),
    [
      ['kafka.brokers', 'immutable'],
      ['server.port', 'immutable'],
    ],
  );
  assert.match(res.body.errors[1].message, /^server\.port cannot change at runtime: .*PORT/);
  assert.deepEqual(await get(), beforeView);
});

test('PATCH needs a JSON object in merge-patch+json or JSON', async () => {
  const list = await patch([{ producer: {} }]);
  assert.equal(list.status, 400);
  assert.deepEqual(list.body.errors, [
    { field: '', rule: 'isObject', message: 'the body must be a JSON object' },
  ]);
  const text = await patch('lingerMs=5', { 'content-type': 'text/plain' });
  assert.equal(text.status, 415);
  assert.match(text.type, /^application\/problem\+json/);
  const broken = await patch('{"producer":', MERGE_PATCH);
  assert.equal(broken.status, 400);
  assert.match(broken.type, /^application\/problem\+json/);
});

test('a changed log level applies at once', async (t) => {
  // Capture what the logger writes while the level is debug, and after it is back at error.
  const written: string[] = [];
  const write = process.stdout.write.bind(process.stdout);
  t.mock.method(process.stdout, 'write', (chunk: string | Uint8Array, ...rest: any[]) => {
    written.push(String(chunk));
    return write(chunk, ...rest);
  });
  const scrape = (id: string) =>
    http(app.url, 'GET', '/metrics', undefined, { 'x-request-id': id });
  const logged = (id: string) => written.some((w) => w.includes(`"requestId":"${id}"`));

  const res = await patch({ server: { logLevel: 'debug' } });
  assert.equal(res.status, 200, JSON.stringify(res.body));
  assert.equal(res.body.config.server.logLevel, 'debug');
  await scrape('level-debug');
  await waitFor('the scrape logged at debug level', () => logged('level-debug') || undefined);

  const back = await patch({ server: { logLevel: 'error' } });
  assert.equal(back.body.config.server.logLevel, 'error');
  await scrape('level-error');
  // A later line that is logged shows the earlier one had its chance and was not.
  await patch({ server: { logLevel: 'debug' } });
  await scrape('level-marker');
  await waitFor('the marker scrape logged', () => logged('level-marker') || undefined);
  assert.ok(!logged('level-error'), 'at error level the scrape is not logged');
  await patch({ server: { logLevel: 'error' } });
});

test('an unknown key is refused even as null, which a merge patch would read as a no-op delete', async () => {
  const version = (await get()).version;
  const res = await patch({ producer: { turbo: null }, simulation: { dataVariation: null } });
  assert.equal(res.status, 400);
  assert.match(res.type, /^application\/problem\+json/);
  assert.deepEqual(res.body.errors, [
    { field: 'producer.turbo', rule: 'unknown', message: 'producer.turbo is not a known field' },
  ]);
  assert.equal((await get()).version, version, 'nothing was applied');
});
