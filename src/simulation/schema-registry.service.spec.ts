import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadConfig } from '../config/config.loader.js';
import { ConfigService } from '../config/config.service.js';
import { SchemaRegistryService } from './schema-registry.service.js';

const service = (env: Record<string, string>) =>
  new SchemaRegistryService(new ConfigService(loadConfig(env)));

void test('without kafka.schemaRegistry.url nothing is registered and values stay plain', async () => {
  const s = service({});
  await s.ready();
  assert.equal(s.framing(loadConfig({}).config), undefined);
});

void test('an unreachable registry fails the start, naming it, once startWaitMs has passed', async () => {
  // Port 9 (discard): nothing listens on loopback here.
  const s = service({
    SCHEMA_REGISTRY_URL: 'http://127.0.0.1:9/apis/ccompat/v7',
    SCHEMA_REGISTRY_START_WAIT_MS: '1500',
  });
  const started = Date.now();
  await assert.rejects(
    s.ready(),
    /the Schema Registry at http:\/\/127\.0\.0\.1:9\/apis\/ccompat\/v7 did not answer/,
  );
  assert.ok(Date.now() - started >= 1400, 'it retried for startWaitMs');
});

void test('a {fleetId} topic template is refused at start: the subject is <topic>-value', () => {
  assert.throws(
    () =>
      loadConfig({ SCHEMA_REGISTRY_URL: 'http://127.0.0.1:9', KAFKA_TOPIC: 'fleetsim.{fleetId}' }),
    /kafka\.topic[\s\S]*needs a plain kafka\.topic/,
  );
});

void test('kafka.schemaRegistry.url must be an http(s) URL', () => {
  assert.throws(
    () => loadConfig({ SCHEMA_REGISTRY_URL: 'registry:8081' }),
    /kafka\.schemaRegistry\.url must be empty \(off\) or an http/,
  );
});
