/**
 * `npm run bench`: fleetsim's throughput benchmark.
 *   Part 1  generation + serialization per second on one core, no Kafka.
 *   Part 2  the real pipeline (scheduler → generator → serializer → producer → broker) at
 *           fixed rates and flat out, each run in a fresh server process and a fresh topic.
 *   Part 3  Kafka's own ProducerPerformance against the same broker, as the yardstick.
 * Starts an embedded broker (port 0) unless KAFKA_BROKERS is set. Writes
 * bench/results/<timestamp>.json and bench/results/latest.json. See bench/README.md.
 *
 * Knobs (environment): BENCH_MEASURE_S (20), BENCH_WARMUP_S (5), BENCH_ONLY (comma list of
 * run names, e.g. "flat-out,pp"), BENCH_GZIP=0 (skip the gzip runs), BENCH_PROFILE=1 (CPU
 * profile of the flat-out window into bench/results/profiles/).
 */
import { fork } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import kafkajs from 'kafkajs';
import { deriveLayout } from '../src/model/layout.js';
import { Fleet } from '../src/model/fleet.js';
import { EmbeddedKafka, pinnedKafkaVersion } from '../src/kafka/embedded-kafka.js';
import { projectRoot } from '../src/kafka/project-root.js';
import { generateReading } from '../src/simulation/reading.generator.js';
import { JsonReadingSerializer } from '../src/simulation/reading.serializer.js';
import { SENSOR_NAMES } from '../src/model/sensors/sensor.model.js';
import { topSelfTime } from './cpuprofile-top.js';
import { type GenerationResult, runGeneration } from './generation.js';
import type { PipelineResult, PipelineSpec } from './pipeline-run.js';
import { type ProducerPerfResult, runProducerPerf } from './producer-perf.js';
import { fmt, table } from './stats.js';

const root = projectRoot();
const resultsDir = join(root, 'bench', 'results');
const PARTITIONS = 6;
const RECORD_SIZE = 250;
const env = process.env;
const measureMs = Number(env.BENCH_MEASURE_S ?? 20) * 1000;
const warmupMs = Number(env.BENCH_WARMUP_S ?? 5) * 1000;
const only = env.BENCH_ONLY ? new Set(env.BENCH_ONLY.split(',').map((s) => s.trim())) : undefined;
const withGzip = env.BENCH_GZIP !== '0';
const profile = env.BENCH_PROFILE === '1';
const wanted = (name: string) => !only || only.has(name) || only.has(name.split('-gzip')[0]);

const log = (m: string) => console.error(`[bench] ${m}`);

/** fleetsim settings a bench run may be tuned with; the bench fixes brokers, topic, acks and compression. */
const TUNABLE = [
  'KAFKA_BATCH_SIZE',
  'KAFKA_BATCH_BYTES',
  'KAFKA_LINGER_MS',
  'KAFKA_MAX_IN_FLIGHT',
  'KAFKA_BUFFER_MEMORY',
  'FLEETSIM_TICK_MS',
];
const tuning = Object.fromEntries(
  TUNABLE.filter((k) => env[k] !== undefined).map((k) => [k, env[k]!]),
);

interface RunPlan {
  name: string;
  fleets: number;
  devicesPerFleet: number;
  intervalMs: number;
  compression: 'none' | 'gzip';
}

/** Fixed rates, then flat out: a target far above what one process can do, block backpressure. */
const PLANS: RunPlan[] = [
  { name: '50k', fleets: 5, devicesPerFleet: 10_000, intervalMs: 1000, compression: 'none' },
  { name: '100k', fleets: 10, devicesPerFleet: 10_000, intervalMs: 1000, compression: 'none' },
  { name: 'flat-out', fleets: 10, devicesPerFleet: 10_000, intervalMs: 100, compression: 'none' },
  {
    name: 'flat-out-gzip',
    fleets: 10,
    devicesPerFleet: 10_000,
    intervalMs: 100,
    compression: 'gzip',
  },
];

function runPipeline(spec: PipelineSpec): Promise<PipelineResult> {
  return new Promise((resolve, reject) => {
    const child = fork(join(root, 'dist', 'bench', 'pipeline-run.js'), [], {
      // createApp replaces Fastify's error handler on purpose; its warning is noise here.
      execArgv: [...process.execArgv, '--disable-warning=FSTWRN004'],
      env: {
        ...env,
        BENCH_PIPELINE_SPEC: JSON.stringify(spec),
        KAFKAJS_NO_PARTITIONER_WARNING: '1',
      },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    let settled = false;
    child.on('message', (m: { result?: PipelineResult; error?: string }) => {
      settled = true;
      if (m.result) resolve(m.result);
      else reject(new Error(`run ${spec.name} failed: ${m.error}`));
    });
    child.on('exit', (code) => {
      if (!settled) reject(new Error(`run ${spec.name}: server process exited ${code}`));
    });
  });
}

async function createTopic(brokers: string[], topic: string): Promise<void> {
  const kafka = new kafkajs.Kafka({
    clientId: 'fleetsim-bench',
    brokers,
    logLevel: kafkajs.logLevel.NOTHING,
  });
  const admin = kafka.admin();
  await admin.connect();
  try {
    await admin.createTopics({
      waitForLeaders: true,
      topics: [{ topic, numPartitions: PARTITIONS, replicationFactor: -1 }],
    });
  } finally {
    await admin.disconnect();
  }
}

/** A file of real fleetsim JSON values, one a line, for ProducerPerformance's gzip run. */
function payloadFile(): string {
  const fleet = new Fleet({
    id: 'bench-payload',
    name: 'bench-payload',
    deviceCount: 2000,
    intervalMs: 1000,
    sensors: [...SENSOR_NAMES],
    layout: deriveLayout(2000),
    seed: 7,
  });
  const serializer = new JsonReadingSerializer();
  const params = { dataVariation: 1, trendEnabled: true, trendStrength: 0.5, anomalyRate: 0.01 };
  const lines: string[] = [];
  let ts = Date.now();
  for (let cycle = 0; cycle < 3; cycle++, ts += 1000) {
    for (const d of fleet.devices) {
      if (generateReading(fleet, d, ts, params)) {
        lines.push(serializer.serialize(fleet, d, ts).toString('utf8'));
      }
    }
  }
  const file = join(tmpdir(), `fleetsim-bench-payload-${process.pid}.txt`);
  writeFileSync(file, lines.join('\n'));
  return file;
}

function printGeneration(g: GenerationResult): void {
  console.log(
    `\nPart 1 — generation + serialization, one core, no Kafka (${fmt(g.devices)} devices, ` +
      `trends on, anomalyRate ${g.params.anomalyRate}; ${fmt(g.avgValueBytes, 1)} B per value, ` +
      `${fmt(g.anomalousShare * 100, 2)} % of readings labelled anomalous)`,
  );
  console.log(
    table(
      [
        'work per reading',
        'readings',
        'readings/s (wall)',
        'readings/s (per CPU-s)',
        'ns/reading (CPU)',
      ],
      g.phases.map((p) => [
        p.work,
        fmt(p.readings),
        fmt(p.readingsPerSec),
        fmt(p.readingsPerCpuSec),
        fmt(p.nsPerReading),
      ]),
    ),
  );
}

function printPipeline(runs: PipelineResult[]): void {
  if (!runs.length) return;
  console.log(
    `\nPart 2 — the real pipeline, acks=1, ${PARTITIONS} partitions, fresh topic per run, ` +
      `${fmt(measureMs / 1000)} s window after ${fmt(warmupMs / 1000)} s warm-up`,
  );
  const name = (r: PipelineResult) => `${r.name} (${r.compression})`;
  console.log(
    table(
      [
        'run',
        'target/s',
        'acked msg/s',
        'offsets/s',
        'MiB/s',
        'vs target',
        'batch',
        'buffer',
        'books',
      ],
      runs.map((r) => [
        name(r),
        fmt(r.targetRate),
        fmt(r.ackedPerSec),
        fmt(r.offsetsPerSec),
        fmt(r.mibPerSec, 1),
        `${fmt((100 * r.ackedPerSec) / r.targetRate, 1)} %`,
        fmt(r.avgBatchMessages),
        `${fmt(r.peakBufferShare * 100)} %`,
        r.final.offsetsMatch && r.final.balanced && r.final.failed === 0 && r.final.dropped === 0
          ? 'ok'
          : 'MISMATCH',
      ]),
    ),
  );
  console.log('');
  console.log(
    table(
      [
        'run',
        'send p50',
        'send p99',
        'lag p99',
        'ELD p99',
        'CPU node',
        'µs/msg',
        'CPU broker',
        'peak RSS',
      ],
      runs.map((r) => [
        name(r),
        `${fmt(r.sendLatencyMs.p50, 1)} ms`,
        `${fmt(r.sendLatencyMs.p99, 1)} ms`,
        `${fmt(r.scheduleLagMs.p99)} ms`,
        `${fmt(r.eventLoopDelayMs.p99, 1)} ms`,
        `${fmt(r.serverCpuPct)} %`,
        fmt(r.serverCpuUsPerMsg, 1),
        r.brokerCpuPct === undefined ? '-' : `${fmt(r.brokerCpuPct)} %`,
        `${fmt(r.peakRssMb)} MB`,
      ]),
    ),
  );
  console.log(
    [
      '  acked msg/s: producer books over the window; offsets/s: growth of the topic end offsets (sum of high)',
      '  batch: messages per produce request; send: batch send→ack latency; lag: reading generated − scheduled',
      '  ELD: event-loop delay; CPU: % of one core over the window; µs/msg: server CPU per acknowledged message',
      "  buffer: peak of the producer's buffer / bufferMemory (at 80 % the block policy holds the scheduler)",
      '  books ok: after the final flush the topic holds exactly the acknowledged count, nothing failed or was',
      '  dropped, and generated = acknowledged + failed + dropped + queued + inFlight',
    ].join('\n'),
  );
}

function printPerf(perf: ProducerPerfResult[]): void {
  if (!perf.length) return;
  console.log(
    `\nPart 3 — Kafka ${pinnedKafkaVersion()} ProducerPerformance, same broker, acks=1, ${PARTITIONS} partitions (steady state, after warm-up records)`,
  );
  console.log(
    table(
      [
        'run',
        'records/s',
        'MiB/s',
        'avg lat',
        'p50',
        'p99',
        'max',
        'CPU java client',
        'CPU broker',
      ],
      perf.map((p) => {
        const s = p.steady ?? p.total;
        return [
          p.name,
          fmt(s?.recordsPerSec),
          fmt(s?.mbPerSec, 1),
          `${fmt(s?.avgLatencyMs, 1)} ms`,
          `${fmt(s?.p50Ms)} ms`,
          `${fmt(s?.p99Ms)} ms`,
          `${fmt(s?.maxLatencyMs)} ms`,
          p.clientCpuPct === undefined ? '-' : `${fmt(p.clientCpuPct)} %`,
          p.brokerCpuPct === undefined ? '-' : `${fmt(p.brokerCpuPct)} %`,
        ];
      }),
    ),
  );
  for (const p of perf) if (p.error) console.log(`  ${p.name}: ${p.error}`);
  console.log(
    '  ProducerPerformance latency is per record from send() to ack and includes time queued in its 32 MB buffer\n' +
      "  (it is run flat out), so it is not comparable to fleetsim's per-batch send latency.",
  );
}

interface Ratio {
  fleetsim: string;
  baseline: string;
  msgRatio: number;
  mibRatio: number;
}

function ratios(runs: PipelineResult[], perf: ProducerPerfResult[]): Ratio[] {
  const out: Ratio[] = [];
  for (const [run, pp] of [
    ['flat-out', 'pp'],
    ['flat-out-gzip', 'pp-gzip'],
  ]) {
    const r = runs.find((x) => x.name === run);
    const p = perf.find((x) => x.name === pp);
    const s = p?.steady ?? p?.total;
    if (!r || !s) continue;
    out.push({
      fleetsim: run,
      baseline: pp,
      msgRatio: r.ackedPerSec / s.recordsPerSec,
      mibRatio: r.mibPerSec / s.mbPerSec,
    });
  }
  return out;
}

async function main(): Promise<void> {
  const startedAt = new Date();
  const stamp = startedAt.toISOString().replace(/[:.]/g, '-');
  mkdirSync(resultsDir, { recursive: true });
  const machine = {
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model,
    loadavgAtStart: loadavg(),
    node: process.version,
  };

  // Part 1 runs before the broker starts so the JVM does not share the core.
  let generation: GenerationResult | undefined;
  if (wanted('generation')) {
    log('part 1: generation + serialization');
    generation = runGeneration({ devices: 10_000, seconds: 3, anomalyRate: 0.01 });
    printGeneration(generation);
  }

  let embedded: EmbeddedKafka | undefined;
  let brokers =
    env.KAFKA_BROKERS?.split(',')
      .map((b) => b.trim())
      .filter(Boolean) ?? [];
  const needsKafka = ['50k', '100k', 'flat-out', 'pp', 'flat-out-gzip', 'pp-gzip'].some(wanted);
  if (!needsKafka) {
    log('no Kafka runs selected');
  } else if (brokers.length === 0) {
    embedded = new EmbeddedKafka({ port: 0, heap: '1g', partitions: PARTITIONS, log });
    brokers = await embedded.start();
  } else {
    log(`using the brokers in KAFKA_BROKERS: ${brokers.join(',')} (no broker CPU figures)`);
  }
  const brokerPid = embedded?.pid;
  const runId = randomUUID().slice(0, 8);
  const runs: PipelineResult[] = [];
  const perf: ProducerPerfResult[] = [];
  let profileTop: ReturnType<typeof topSelfTime> | undefined;
  let payload: string | undefined;

  try {
    for (const plan of PLANS) {
      if (plan.compression === 'gzip' && !withGzip) continue;
      if (wanted(plan.name)) {
        const profileFile =
          profile && plan.name === 'flat-out'
            ? join(resultsDir, 'profiles', `${stamp}-flat-out.cpuprofile`)
            : undefined;
        if (profileFile) mkdirSync(join(resultsDir, 'profiles'), { recursive: true });
        log(
          `part 2: ${plan.name}: ${plan.fleets} × ${fmt(plan.devicesPerFleet)} devices every ${plan.intervalMs} ms, ${plan.compression}`,
        );
        const result = await runPipeline({
          ...plan,
          brokers,
          topic: `bench-${runId}-${plan.name}`,
          partitions: PARTITIONS,
          acks: 1,
          warmupMs,
          measureMs,
          brokerPid,
          profileFile,
          env: tuning,
        });
        runs.push(result);
        log(
          `  ${plan.name}: ${fmt(result.ackedPerSec)} msg/s acknowledged (${fmt(result.offsetsPerSec)} by offsets)`,
        );
        if (profileFile) profileTop = topSelfTime(profileFile, 20);
      }
      // The yardstick runs right after the matching flat-out run, under the same noise.
      const ppName =
        plan.name === 'flat-out' ? 'pp' : plan.name === 'flat-out-gzip' ? 'pp-gzip' : '';
      if (ppName && wanted(ppName)) {
        const gzip = plan.compression === 'gzip';
        if (gzip) payload ??= payloadFile();
        const topic = `bench-${runId}-${ppName}`;
        await createTopic(brokers, topic);
        // Sized for about 15 s at a rate well above fleetsim's.
        const flat = runs.find((r) => r.name === plan.name)?.ackedPerSec ?? 100_000;
        const records = Math.round(Math.min(8e6, Math.max(1.5e6, flat * 4 * 15)));
        log(`part 3: ${ppName}: ProducerPerformance, ${fmt(records)} records`);
        const result = await runProducerPerf({
          name: ppName,
          brokers,
          topic,
          partitions: PARTITIONS,
          records,
          warmupRecords: Math.round(records / 5),
          recordSize: gzip ? undefined : RECORD_SIZE,
          payloadFile: gzip ? payload : undefined,
          keyRange: 100_000,
          acks: 1,
          compression: plan.compression,
          lingerMs: 5,
          batchSizeBytes: 65_536,
          maxInFlight: 5,
          brokerPid,
          timeoutMs: 120_000,
        });
        perf.push(result);
        log(`  ${ppName}: ${fmt((result.steady ?? result.total)?.recordsPerSec)} records/s`);
      }
    }
  } finally {
    if (embedded) await embedded.stop();
  }

  printPipeline(runs);
  printPerf(perf);
  const rs = ratios(runs, perf);
  if (rs.length) {
    console.log(
      '\nfleetsim flat out as a share of ProducerPerformance on the same broker, same run:',
    );
    for (const r of rs) {
      console.log(
        `  ${r.fleetsim} / ${r.baseline}: ${fmt(r.msgRatio, 2)}× msg/s, ${fmt(r.mibRatio, 2)}× MiB/s`,
      );
    }
  }
  if (profileTop) {
    console.log(
      `\nCPU profile of the flat-out window (top self time, ${fmt(profileTop.totalMs)} ms sampled):`,
    );
    const pct = (n: number) => `${fmt(n, 1).padStart(5)} %`;
    console.log(
      '  by owner (node core and builtins charged to their caller): ' +
        profileTop.owners.map((o) => `${o.area} ${fmt(o.selfPct, 1)} %`).join(', '),
    );
    for (const r of profileTop.rows) console.log(`  ${pct(r.selfPct)}  ${r.fn}  ${r.where}`);
  }

  const report = {
    startedAt: startedAt.toISOString(),
    durationSec: (Date.now() - startedAt.getTime()) / 1000,
    machine: { ...machine, loadavgAtEnd: loadavg() },
    kafka: {
      version: pinnedKafkaVersion(),
      embedded: embedded !== undefined,
      brokers: embedded ? ['embedded'] : brokers,
    },
    settings: {
      measureMs,
      warmupMs,
      partitions: PARTITIONS,
      recordSize: RECORD_SIZE,
      acks: 1,
      tuning,
    },
    generation,
    pipeline: runs,
    producerPerformance: perf,
    ratios: rs,
    profileTop,
  };
  const json = `${JSON.stringify(report, null, 2)}\n`;
  const file = join(resultsDir, `${stamp}.json`);
  writeFileSync(file, json);
  writeFileSync(join(resultsDir, 'latest.json'), json);
  console.log(
    `\nresults: ${file} (and bench/results/latest.json); took ${fmt(report.durationSec)} s`,
  );
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
