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

test('API keys come from FLEETSIM_API_KEYS and FLEETSIM_API_KEYS_FILE, secrets kept as digests', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fleetsim-keys-'));
  const file = join(dir, 'keys');
  writeFileSync(
    file,
    '# keys\r\nviewer:read:viewer-secret-0123456789\r\n\r\nci:operate:ci:secret:with:colons\n',
  );
  const { apiKeys } = loadConfig({
    FLEETSIM_API_KEYS: 'ops:operate:ops-secret-0123456789abcdef , ',
    FLEETSIM_API_KEYS_FILE: file,
  });
  assert.ok(apiKeys?.enabled);
  assert.deepEqual(apiKeys.identities, [
    { id: 'ops', role: 'operate' },
    { id: 'viewer', role: 'read' },
    { id: 'ci', role: 'operate' },
  ]);
  assert.deepEqual(apiKeys.find('ops-secret-0123456789abcdef'), { id: 'ops', role: 'operate' });
  assert.deepEqual(apiKeys.find('viewer-secret-0123456789'), { id: 'viewer', role: 'read' });
  assert.deepEqual(apiKeys.find('ci:secret:with:colons'), { id: 'ci', role: 'operate' });
  assert.equal(apiKeys.find('ops-secret-0123456789abcde'), undefined);
  assert.equal(apiKeys.find(''), undefined);
  assert.ok(!JSON.stringify(apiKeys).includes('ops-secret'), 'the secret is not kept as text');
  assert.equal(loadConfig({}).apiKeys?.enabled, false);
});

test('bad API keys fail the boot naming the entry, never echoing a secret', () => {
  const secret = 'this-is-the-secret-value';
  const found = problems({
    FLEETSIM_API_KEYS: [
      `ops:operate:${secret}`,
      `ops:read:another-${secret}`,
      `ci:admin:${secret}x`,
      'short:read:abc',
      `no-role-${secret}`,
      `bad id:read:${secret}y`,
      `dup:read:${secret}`,
    ].join(','),
    FLEETSIM_API_KEYS_FILE: '/nonexistent/keys',
  });
  assert.deepEqual(found, [
    'FLEETSIM_API_KEYS_FILE=/nonexistent/keys: cannot be read (ENOENT)',
    'FLEETSIM_API_KEYS entry 2 (key "ops"): the id is used by another key',
    'FLEETSIM_API_KEYS entry 3 (key "ci"): the role must be read or operate, not "admin"',
    'FLEETSIM_API_KEYS entry 4 (key "short"): the secret must be at least 16 characters long',
    'FLEETSIM_API_KEYS entry 5: must look like id:role:secret',
    'FLEETSIM_API_KEYS entry 6: the id must be 1-64 letters, digits, ".", "_" or "-"',
    `FLEETSIM_API_KEYS entry 7 (key "dup"): the secret is the same as another key's`,
  ]);
  assert.ok(!found.join('\n').includes(secret));
});

test('limits between settings: bufferMemory, shutdownFlushMs, batchSize and boot fleets', () => {
  const found = problems({
    KAFKA_BUFFER_MEMORY: String(4 * 1024 * 1024 * 1024),
    FLEETSIM_SHUTDOWN_GRACE_MS: '10000',
    KAFKA_BATCH_SIZE: '5000',
    FLEETSIM_MAX_BATCH_SIZE: '2000',
  });
  assert.equal(found.length, 3, found.join('\n'));
  assert.match(
    found[0],
    /^producer\.bufferMemory = 4294967296 \(from env KAFKA_BUFFER_MEMORY\): bufferMemory must not be greater than \d+ bytes \(limits\.bufferMemoryFraction 0\.5 of the \d+ bytes this process may use\)$/,
  );
  assert.equal(
    found[1],
    'producer.shutdownFlushMs = 15000: shutdownFlushMs must not be greater than 5000 (server.shutdownGraceMs 10000 less 5000 ms for the rest of the shutdown)',
  );
  assert.equal(
    found[2],
    'producer.batchSize = 5000 (from env KAFKA_BATCH_SIZE): batchSize must not be greater than 2000 (limits.maxBatchSize)',
  );
  const fleets = yamlFile(
    'simulation:\n  fleets:\n    - { name: a, deviceCount: 60000 }\n    - { name: b, deviceCount: 50000 }\n',
  );
  assert.deepEqual(problems({ FLEETSIM_CONFIG: fleets, FLEETSIM_MAX_DEVICES: '100000' }), [
    `simulation.fleets = 110000 (from ${fleets}): fleets must not have more than 100000 devices in all (limits.maxDevices); they have 110000`,
  ]);
  assert.deepEqual(problems({ FLEETSIM_CONFIG: fleets, FLEETSIM_MAX_TARGET_RATE: '1000' }), [
    `simulation.fleets = 22000 (from ${fleets}): fleets must not target more than 1000 readings/s in all (limits.maxTargetRate); they target 22000`,
  ]);
});
