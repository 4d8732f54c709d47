import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ConfigError, loadConfig } from './config.loader.js';

function yamlFile(text: string): string {
  const file = join(mkdtempSync(join(tmpdir(), 'fleetsim-config-')), 'fleetsim.yaml');
  writeFileSync(file, text);
  return file;
}

function problems(env: Record<string, string>): string[] {
  try {
    loadConfig(env);
  } catch (err) {
    assert.ok(err instanceof ConfigError);
    return err.problems;
  }
  assert.fail('expected the configuration to be refused');
}

test('defaults follow the reference design', () => {
  const { config, sources } = loadConfig({});
  assert.equal(config.server.port, 3000);
  assert.deepEqual(config.kafka.brokers, []);
  assert.equal(config.kafka.topic, 'fleetsim.readings');
  assert.equal(config.kafka.topicPartitions, 6);
  assert.equal(config.kafka.client, 'platformatic');
  assert.equal(loadConfig({ KAFKA_CLIENT: 'kafkajs' }).config.kafka.client, 'kafkajs');
  assert.equal(config.producer.lingerMs, 5);
  assert.equal(config.producer.bufferMemory, 32 * 1024 * 1024);
  assert.equal(config.producer.maxInFlightRequests, 5);
  assert.equal(config.producer.compression, 'gzip');
  assert.equal(config.producer.requiredAcks, -1);
  assert.equal(config.simulation.autoStart, true);
  assert.equal(sources.get('server.port'), 'default');
});

test('environment variables override the YAML file, which overrides defaults', () => {
  const file = yamlFile(
    'server:\n  port: 4000\nkafka:\n  topic: from-file\nproducer:\n  lingerMs: 20\n',
  );
  const { config, sources } = loadConfig({
    FLEETSIM_CONFIG: file,
    PORT: '5000',
    KAFKA_BROKERS: 'a:9092, b:9093',
    KAFKA_ACKS: '1',
    FLEETSIM_AUTOSTART: 'false',
  });
  assert.equal(config.server.port, 5000);
  assert.equal(config.kafka.topic, 'from-file');
  assert.equal(config.producer.lingerMs, 20);
  assert.deepEqual(config.kafka.brokers, ['a:9092', 'b:9093']);
  assert.equal(config.producer.requiredAcks, 1);
  assert.equal(config.simulation.autoStart, false);
  assert.equal(sources.get('server.port'), 'env');
  assert.equal(sources.get('kafka.topic'), 'file');
  assert.equal(sources.get('producer.batchSize'), 'default');
});

test('a bad value names the key, the value, where it came from and the rule', () => {
  assert.deepEqual(problems({ KAFKA_LINGER_MS: '-5' }), [
    'producer.lingerMs = -5 (from env KAFKA_LINGER_MS): lingerMs must not be less than 0',
  ]);
  assert.deepEqual(problems({ FLEETSIM_ANOMALY_RATE: '0.5' }), [
    'simulation.anomalyRate = 0.5 (from env FLEETSIM_ANOMALY_RATE): anomalyRate must not be greater than 0.1',
  ]);
  assert.deepEqual(problems({ PORT: 'eighty' }), ['PORT="eighty": must be an integer']);
  assert.deepEqual(problems({ KAFKA_ACKS: '2' }), [
    'producer.requiredAcks = 2 (from env KAFKA_ACKS): requiredAcks must be one of the following values: -1, 0, 1',
  ]);
  assert.deepEqual(problems({ KAFKA_CLIENT: 'librdkafka' }), [
    'kafka.client = "librdkafka" (from env KAFKA_CLIENT): client must be one of the following values: platformatic, kafkajs',
  ]);
  assert.deepEqual(problems({ KAFKA_BROKERS: 'localhost' }), [
    'kafka.brokers = ["localhost"] (from env KAFKA_BROKERS): each broker must be host:port',
  ]);
});

test('the YAML file is validated against the same ranges, unknown keys included', () => {
  const file = yamlFile(
    'producer:\n  batchSize: 0\n  compression: brotli\nsimulation:\n  dataVariation: 2\n  turbo: true\n',
  );
  const found = problems({ FLEETSIM_CONFIG: file });
  assert.ok(
    found.includes(`producer.batchSize = 0 (from ${file}): batchSize must not be less than 1`),
    found.join('\n'),
  );
  assert.ok(found.some((p) => p.startsWith(`producer.compression = "brotli" (from ${file})`)));
  assert.ok(found.some((p) => p.startsWith(`simulation.dataVariation = 2 (from ${file})`)));
  assert.ok(found.includes('simulation.turbo: unknown key'), found.join('\n'));
});

test('a missing or malformed file is refused with its path', () => {
  assert.match(
    problems({ FLEETSIM_CONFIG: '/nonexistent/fleetsim.yaml' })[0],
    /^FLEETSIM_CONFIG=\/nonexistent\/fleetsim.yaml: ENOENT/,
  );
  const file = yamlFile('- just\n- a list\n');
  assert.deepEqual(problems({ FLEETSIM_CONFIG: file }), [
    `FLEETSIM_CONFIG=${file}: the file must hold a YAML mapping`,
  ]);
});

test('boot fleets in the file are validated too', () => {
  const file = yamlFile('simulation:\n  fleets:\n    - name: a\n      deviceCount: 200000\n');
  const found = problems({ FLEETSIM_CONFIG: file });
  assert.ok(
    found.some((p) => p.startsWith('simulation.fleets.0.deviceCount = 200000')),
    found.join('\n'),
  );
});
