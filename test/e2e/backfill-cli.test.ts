/**
 * npm run backfill, standalone: runs fleetsim's modules in its own process against the test
 * broker, prints progress and a summary, exits 0 when done (2 on bad input).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { testBrokers, testKafka, topicSize, uniqueTopic } from '../support/kafka.js';

const SCRIPT = join(fileURLToPath(import.meta.url), '..', '..', '..', 'scripts', 'backfill.js');

function run(args: string[], env: Record<string, string>) {
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    const child = spawn(process.execPath, [SCRIPT, ...args], {
      env: { ...process.env, KAFKA_BROKERS: testBrokers().join(','), ...env },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

test('npm run backfill writes the range and exits 0', async () => {
  const topic = uniqueTopic('cli-backfill');
  const res = await run(
    [
      '--name',
      'Cli Plant',
      '--devices',
      '5',
      '--interval',
      '1000',
      '--seed',
      '4',
      '--from',
      '2026-03-01T00:00:00Z',
      '--to',
      '2026-03-01T01:00:00Z',
    ],
    { KAFKA_TOPIC: topic, LOG_LEVEL: 'error' },
  );
  assert.equal(res.code, 0, res.stderr);
  assert.match(res.stdout, /bf-1 done: 18000 readings of fleet cli-plant/);
  assert.match(res.stderr, /\[#{30}\] 100\.0 %/);
  const admin = testKafka().admin();
  await admin.connect();
  try {
    assert.equal(await topicSize(admin, topic), 18000);
  } finally {
    await admin.disconnect();
  }
});

test('npm run backfill refuses bad input with exit code 2', async () => {
  const res = await run(
    ['--devices', '5', '--from', '2026-03-02T00:00:00Z', '--to', '2026-03-01T00:00:00Z'],
    {
      KAFKA_TOPIC: uniqueTopic('cli-bad'),
      LOG_LEVEL: 'error',
    },
  );
  assert.equal(res.code, 2);
  assert.match(res.stderr, /to must be later than from/);
});
