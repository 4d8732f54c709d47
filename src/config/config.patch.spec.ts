import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  changedClientSettings,
  applyMergePatch,
  changedPaths,
  IMMUTABLE_SETTINGS,
  immutableSetting,
  maskSecrets,
  SECRET_MASK,
  withoutMaskedSecrets,
} from './config.patch.js';
import { FleetsimConfig } from './fleetsim.config.js';

test('JSON merge patch follows the examples of RFC 7396', () => {
  const cases: Array<[unknown, unknown, unknown]> = [
    [{ a: 'b' }, { a: 'c' }, { a: 'c' }],
    [{ a: 'b' }, { b: 'c' }, { a: 'b', b: 'c' }],
    [{ a: 'b' }, { a: null }, {}],
    [{ a: 'b', b: 'c' }, { a: null }, { b: 'c' }],
    [{ a: ['b'] }, { a: 'c' }, { a: 'c' }],
    [{ a: 'c' }, { a: ['b'] }, { a: ['b'] }],
    [{ a: { b: 'c' } }, { a: { b: 'd', c: null } }, { a: { b: 'd' } }],
    [{ a: [{ b: 'c' }] }, { a: [1] }, { a: [1] }],
    [
      ['a', 'b'],
      ['c', 'd'],
      ['c', 'd'],
    ],
    [{ a: 'b' }, ['c'], ['c']],
    [{ a: 'foo' }, null, null],
    [{ a: 'foo' }, 'bar', 'bar'],
    [{ e: null }, { a: 1 }, { e: null, a: 1 }],
    [[1, 2], { a: 'b', c: null }, { a: 'b' }],
    [{}, { a: { bb: { ccc: null } } }, { a: { bb: {} } }],
  ];
  for (const [target, patch, result] of cases) {
    assert.deepEqual(applyMergePatch(target, patch), result, JSON.stringify({ target, patch }));
  }
});

test('applying a patch leaves its arguments as they were', () => {
  const target = { producer: { lingerMs: 5, batchSize: 10 } };
  const patch = { producer: { lingerMs: 20 } };
  applyMergePatch(target, patch);
  assert.deepEqual(target, { producer: { lingerMs: 5, batchSize: 10 } });
  assert.deepEqual(patch, { producer: { lingerMs: 20 } });
});

test('changedPaths lists leaf paths whose values differ, arrays as one value', () => {
  const before = { a: { b: 1, c: [1, 2] }, d: 'x' };
  const after = { a: { b: 1, c: [1, 3] }, d: 'y', e: true };
  assert.deepEqual(changedPaths(before, after), ['a.c', 'd', 'e']);
  assert.deepEqual(changedPaths(before, before), []);
});

test('boot-only settings are immutable, sections by prefix; runtime ones are not', () => {
  for (const path of [
    'server.port',
    'server.host',
    'kafka.brokers',
    'kafka.embedded.port',
    'kafka.embedded.heap',
    'kafka.topicPartitions',
    'simulation.fleets',
    'server.auth.healthRequiresKey',
    'server.cors.origins',
    'server.rateLimit.max',
    'server.requireIfMatch',
    'server.shutdownGraceMs',
    'limits.maxDevices',
  ]) {
    assert.ok(immutableSetting(path), path);
  }
  for (const path of [
    'server.logLevel',
    'kafka.topic',
    'kafka.clientId',
    'producer.lingerMs',
    'producer.compression',
    'producer.requiredAcks',
    'simulation.tickMs',
    'simulation.anomalyRate',
  ]) {
    assert.equal(immutableSetting(path), undefined, path);
  }
  // Every rule names a setting that exists, and says why.
  const defaults = JSON.parse(JSON.stringify(new FleetsimConfig())) as Record<string, unknown>;
  for (const rule of IMMUTABLE_SETTINGS) {
    const [section, key] = rule.path.split('.');
    assert.ok(
      key === undefined ? section in defaults : key in (defaults[section] as object),
      rule.path,
    );
    assert.ok(rule.reason.length > 10, rule.path);
  }
});

test('secrets are masked at any depth, and sending the mask back changes nothing', () => {
  const config = {
    kafka: {
      topic: 't',
      sasl: { mechanism: 'plain', username: 'u', password: 'p' },
      sslKeyPassword: 'k',
    },
    producer: { apiToken: '', lingerMs: 5 },
  };
  assert.deepEqual(maskSecrets(config), {
    kafka: {
      topic: 't',
      sasl: { mechanism: SECRET_MASK, username: SECRET_MASK, password: SECRET_MASK },
      sslKeyPassword: SECRET_MASK,
    },
    producer: { apiToken: '', lingerMs: 5 },
  });
  assert.equal(config.kafka.sasl.password, 'p', 'the original is not changed');

  const patch = withoutMaskedSecrets({
    kafka: { sasl: { password: SECRET_MASK, username: 'v' }, topic: SECRET_MASK },
  });
  assert.deepEqual(patch, { kafka: { sasl: { username: 'v' }, topic: SECRET_MASK } });
  assert.deepEqual(applyMergePatch(config, patch), {
    ...config,
    kafka: { ...config.kafka, topic: SECRET_MASK, sasl: { ...config.kafka.sasl, username: 'v' } },
  });
});

test('a change under kafka.tls or kafka.sasl is a client setting; other kafka keys are not', () => {
  assert.deepEqual(changedClientSettings(['kafka.sasl.password', 'producer.lingerMs']), [
    'kafka.sasl',
  ]);
  assert.deepEqual(changedClientSettings(['kafka.tls.ca', 'kafka.topic']), [
    'kafka.topic',
    'kafka.tls',
  ]);
  assert.deepEqual(changedClientSettings(['kafka.topicPartitions', 'kafka.tlsx']), []);
});
