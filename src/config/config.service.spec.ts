import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadConfig } from './config.loader.js';
import { ConfigService, type PreparedChange } from './config.service.js';
import { FleetsimConfig } from './fleetsim.config.js';

function nextConfig(service: ConfigService, lingerMs: number): FleetsimConfig {
  const next = Object.assign(new FleetsimConfig(), structuredClone(service.config));
  next.producer = { ...next.producer, lingerMs };
  return next;
}

test('update prepares every part, swaps, emits, then commits, in that order', async () => {
  const service = new ConfigService(loadConfig({}));
  const steps: string[] = [];
  service.onPrepare(async () => {
    steps.push('prepare');
    return {
      commit: async () => void steps.push(`commit at version ${service.version}`),
      abort: async () => void steps.push('abort'),
    };
  });
  service.onUpdated(({ previous, current }) =>
    steps.push(`updated ${previous.producer.lingerMs} → ${current.producer.lingerMs}`),
  );
  await service.update(nextConfig(service, 20), ['producer.lingerMs'], 'api');
  assert.deepEqual(steps, ['prepare', 'updated 5 → 20', 'commit at version 2']);
  assert.equal(service.config.producer.lingerMs, 20);
  assert.equal(service.sources.get('producer.lingerMs'), 'api');
});

test('when one part refuses, the parts already prepared are undone and nothing changes', async () => {
  const service = new ConfigService(loadConfig({}));
  const aborted: string[] = [];
  const part = (name: string): PreparedChange => ({
    commit: async () => assert.fail(`${name} must not be committed`),
    abort: async () => void aborted.push(name),
  });
  service.onPrepare(async () => part('first'));
  service.onPrepare(async () => {
    throw new Error('cannot connect');
  });
  service.onPrepare(async () => part('third'));
  let emitted = false;
  service.onUpdated(() => (emitted = true));
  const before = service.config;
  await assert.rejects(
    service.update(nextConfig(service, 20), ['producer.lingerMs'], 'api'),
    /cannot connect/,
  );
  assert.deepEqual(aborted, ['first']);
  assert.equal(service.config, before);
  assert.equal(service.version, 1);
  assert.equal(service.sources.get('producer.lingerMs'), 'default');
  assert.equal(emitted, false);
});
