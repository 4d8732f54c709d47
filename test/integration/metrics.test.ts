import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { SERIALIZATION_SAMPLE_EVERY } from '../../src/metrics/fleetsim.metrics.js';
import { http, startApp, type TestApp, waitFor } from '../support/app.js';
import { uniqueTopic } from '../support/kafka.js';
import { requireTool } from '../support/tools.js';

/** SPEC §7, metric by metric: what /metrics must expose. */
const SPEC_METRICS = {
  'messages produced': [
    'fleetsim_messages_generated_total',
    'fleetsim_messages_acknowledged_total',
  ],
  'bytes produced': ['fleetsim_bytes_produced_total'],
  batches: ['fleetsim_batches_total', 'fleetsim_batch_messages'],
  'send latency': ['fleetsim_send_latency_seconds'],
  'serialization latency': ['fleetsim_serialization_seconds'],
  'send errors': ['fleetsim_send_errors_total', 'fleetsim_messages_failed_total'],
  retries: ['fleetsim_messages_retried_total'],
  'dropped messages': ['fleetsim_messages_dropped_total'],
  'process memory and CPU': ['process_resident_memory_bytes', 'process_cpu_seconds_total'],
  'event-loop delay': ['fleetsim_event_loop_delay_p99_seconds', 'nodejs_eventloop_lag_p99_seconds'],
  'device count': ['fleetsim_devices', 'fleetsim_fleets'],
  'active connections': ['fleetsim_http_connections'],
  'queue depth': ['fleetsim_queue_depth_messages', 'fleetsim_buffer_bytes'],
  'schedule lag': ['fleetsim_schedule_lag_seconds', 'fleetsim_schedule_behind_seconds'],
  'configuration changes': ['fleetsim_config_changes_total'],
};

/** The value of an unlabelled sample in the text exposition format. */
function sample(text: string, name: string): number {
  const match = new RegExp(`^${name} (\\S+)$`, 'm').exec(text);
  assert.ok(match, `${name} is not in /metrics`);
  return Number(match[1]);
}

async function producingApp(name: string): Promise<TestApp> {
  const app = await startApp({ KAFKA_TOPIC: uniqueTopic(name), KAFKA_COMPRESSION: 'none' });
  const created = await http(app.url, 'POST', '/api/v1/fleets', {
    name,
    deviceCount: 200,
    intervalMs: 200,
    seed: 3,
  });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  // Serialization is timed for one reading in SERIALIZATION_SAMPLE_EVERY: wait for enough.
  await waitFor(
    'messages acknowledged',
    async () =>
      (await http(app.url, 'GET', '/api/v1/producer')).body.acknowledged >=
      2 * SERIALIZATION_SAMPLE_EVERY
        ? true
        : undefined,
    60_000,
  );
  return app;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

test('/metrics passes promtool check metrics and carries every SPEC §7 metric', async (t) => {
  const promtool = requireTool('promtool');
  const app = await producingApp('metrics-lint');
  t.after(() => app.close());

  const res = await fetch(`${app.url}/metrics`);
  assert.equal(res.status, 200);
  const text = await res.text();
  const lint = spawnSync(promtool, ['check', 'metrics'], { input: text, encoding: 'utf8' });
  assert.equal(lint.status, 0, `promtool check metrics:\n${lint.stdout}${lint.stderr}`);

  for (const [what, names] of Object.entries(SPEC_METRICS)) {
    for (const name of names) {
      assert.match(text, new RegExp(`^# TYPE ${name} `, 'm'), `${what}: ${name} is missing`);
    }
  }
  assert.ok(
    sample(text, 'fleetsim_serialization_seconds_count') > 0,
    'serialization is timed while producing',
  );
  assert.ok(sample(text, 'fleetsim_http_connections') >= 1, 'the scrape itself is a connection');
  assert.ok(sample(text, 'fleetsim_event_loop_delay_p99_seconds') >= 0);
  assert.equal(sample(text, 'fleetsim_devices'), 200);
  assert.match(text, /^fleetsim_config_changes_total\{result="applied"\} 0$/m);
});

test('a real Prometheus scraping every second sees messages acknowledged', async (t) => {
  const prometheus = requireTool('prometheus');
  const app = await producingApp('metrics-scrape');
  t.after(() => app.close());

  const dir = mkdtempSync(join(tmpdir(), 'fleetsim-prometheus-'));
  const port = await freePort();
  const target = new URL(app.url).host;
  writeFileSync(
    join(dir, 'prometheus.yml'),
    [
      'global:',
      '  scrape_interval: 1s',
      '  scrape_timeout: 1s',
      '  evaluation_interval: 1s',
      'scrape_configs:',
      '  - job_name: fleetsim',
      '    static_configs:',
      `      - targets: ['${target}']`,
      '',
    ].join('\n'),
  );
  const child: ChildProcess = spawn(
    prometheus,
    [
      `--config.file=${join(dir, 'prometheus.yml')}`,
      `--storage.tsdb.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--log.level=warn',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let log = '';
  child.stderr!.on('data', (chunk: Buffer) => (log += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  let running = true;
  void exited.then(() => (running = false));
  t.after(async () => {
    if (running) {
      child.kill('SIGTERM');
      await exited;
    }
    rmSync(dir, { recursive: true, force: true });
  });

  const query = 'rate(fleetsim_messages_acknowledged_total[10s])';
  const rate = await waitFor(
    `Prometheus to compute ${query} > 0`,
    async () => {
      if (!running) throw new Error(`prometheus exited:\n${log}`);
      const res = await fetch(
        `http://127.0.0.1:${port}/api/v1/query?query=${encodeURIComponent(query)}`,
      ).catch(() => undefined);
      if (!res?.ok) return undefined;
      const body = (await res.json()) as {
        data: { result: Array<{ metric: Record<string, string>; value: [number, string] }> };
      };
      const values = body.data.result.map((r) => Number(r.value[1]));
      return values.find((v) => v > 0);
    },
    120_000,
  );
  assert.ok(rate > 0, `${query} = ${rate}`);
});
