/**
 * `npm run bench`: fleetsim's throughput benchmark.
 *   Part 1  generation + serialization per second on one core, no Kafka.
 *   Part 2  the real pipeline (scheduler → generator → serializer → producer → broker) at
 *           fixed rates and flat out, each run in a fresh server process and a fresh topic,
 *           once per producer engine (KAFKA_CLIENT).
 *   Part 2b flat out as `npm start` runs it with FLEETSIM_WORKERS=1 and 2 (workers-1,
 *           workers-2): processes of one cluster, rate from the topic's offsets, CPU summed.
 *   Part 3  Kafka's own ProducerPerformance against the same broker, as the yardstick.
 *   Part 4  the reference design's stack, Go + IBM/sarama (bench/sarama), doing fleetsim's
 *           job against the same broker, flat out and at 100k msg/s (skipped without Go).
 * The parts are reported in this order; they run in another: the fixed rates, the backfill
 * and Part 2b first, then the runs the ratio targets compare back to back (the first engine
 * flat out, ProducerPerformance, Sarama flat out), then the other engines flat out.
 * Then the targets of issue 9 as same-run figures, met or missed, per engine.
 * Starts an embedded broker (port 0) unless KAFKA_BROKERS is set. Writes
 * bench/results/<timestamp>.json and bench/results/latest.json. See bench/README.md.
 *
 * `--quick`: a smoke run (1 s warm-up, 3 s windows, no gzip, short ProducerPerformance)
 * that writes bench/results/<timestamp>-quick.json only; its figures mean nothing.
 *
 * Knobs (environment): BENCH_MEASURE_S (20), BENCH_WARMUP_S (5), BENCH_SETTLE_S (30: the most
 * a fixed-rate run waits after its warm-up for the start's backlog), BENCH_ONLY (comma list of
 * run names, e.g. "flat-out,pp,sarama"), BENCH_ENGINES (platformatic,kafkajs), BENCH_GZIP=0
 * (skip the gzip runs), BENCH_PROFILE=1 (CPU profile of each flat-out window into
 * bench/results/profiles/), BENCH_PROFILE=alloc (sampled allocation profile of each flat-out
 * and fixed-rate window, there too), BENCH_NODE_OPTIONS (NODE_OPTIONS of the fleetsim processes under
 * test; default the Docker image's, empty for Node's defaults).
 */
import { fork } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import kafkajs from 'kafkajs';
import '../src/kafka/kafkajs.patch.js';
import { deriveLayout } from '../src/model/layout.js';
import { Fleet } from '../src/model/fleet.js';
import { EmbeddedKafka, pinnedKafkaVersion } from '../src/kafka/embedded-kafka.js';
import { projectRoot } from '../src/kafka/project-root.js';
import { missingNodeFlags, NODE_FLAGS } from '../src/runtime/node.flags.js';
import { imageNodeOptions } from '../scripts/image-node-options.js';
import { generateReading } from '../src/simulation/reading.generator.js';
import { JsonReadingSerializer } from '../src/simulation/reading.serializer.js';
import { SENSOR_NAMES } from '../src/model/sensors/sensor.model.js';
import { topAllocations } from './allocprofile-top.js';
import { topSelfTime } from './cpuprofile-top.js';
import { type GenerationResult, runGeneration } from './generation.js';
import type { Engine, PipelineResult, PipelineSpec } from './pipeline-run.js';
import { type ProducerPerfResult, runProducerPerf } from './producer-perf.js';
import { buildSarama, runSarama, type SaramaBuild, type SaramaResult } from './sarama-run.js';
import { fmt, SETTLED_MS, table } from './stats.js';
import { runWorkers, type WorkersResult } from './workers-run.js';

const root = projectRoot();
const resultsDir = join(root, 'bench', 'results');
const PARTITIONS = 6;
const RECORD_SIZE = 250;
const env = process.env;
const quick = process.argv.includes('--quick');
const measureMs = Number(env.BENCH_MEASURE_S ?? (quick ? 3 : 20)) * 1000;
const warmupMs = Number(env.BENCH_WARMUP_S ?? (quick ? 1 : 5)) * 1000;
/** Fixed-rate runs: most time after the warm-up to wait for the start's backlog (BENCH_SETTLE_S). */
const settleMaxMs = Number(env.BENCH_SETTLE_S ?? (quick ? 2 : 30)) * 1000;
/** When a fixed-rate run's window started, and whether its schedule had caught up by then. */
const settleNote = (r: PipelineResult) =>
  r.settle === undefined
    ? ''
    : r.settle.caughtUp
      ? `; window from ${fmt(r.settle.windowStartMs / 1000, 1)} s after the start (caught up)`
      : `; window from ${fmt(r.settle.windowStartMs / 1000, 1)} s after the start, NOT caught up`;
const only = env.BENCH_ONLY ? new Set(env.BENCH_ONLY.split(',').map((s) => s.trim())) : undefined;
const withGzip = env.BENCH_GZIP ? env.BENCH_GZIP !== '0' : !quick;
const profile = env.BENCH_PROFILE === '1';
const allocProfile = env.BENCH_PROFILE === 'alloc';
const wanted = (name: string) =>
  !only ||
  only.has(name) ||
  only.has(name.split('-gzip')[0]) ||
  (name.startsWith('sarama-') && only.has('sarama')) ||
  (name.startsWith('workers-') && only.has('workers'));
/** FLEETSIM_WORKERS of the Part 2b rows. */
const WORKER_COUNTS = [1, 2];
const ENGINE_NAMES: readonly Engine[] = ['platformatic', 'kafkajs'];
/** fleetsim's producer engines to run Part 2 with, each as KAFKA_CLIENT of the server under test. */
const engines = (env.BENCH_ENGINES ?? ENGINE_NAMES.join(','))
  .split(',')
  .map((s) => s.trim())
  .filter(Boolean) as Engine[];
for (const e of engines) {
  if (!ENGINE_NAMES.includes(e)) {
    console.error(`BENCH_ENGINES: unknown engine "${e}" (one of ${ENGINE_NAMES.join(', ')})`);
    process.exit(2);
  }
}
/** Devices of the Sarama runs, as many as fleetsim's 100k and flat-out runs. */
const SARAMA_DEVICES = 100_000;

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
/**
 * NODE_OPTIONS of the fleetsim processes under test (Part 2 and 2b): the Docker image's unless
 * BENCH_NODE_OPTIONS is set (empty: Node's defaults, as `npm start` runs).
 */
const serverNodeOptions = env.BENCH_NODE_OPTIONS ?? imageNodeOptions(root);
const nodeOptionsLabel = () =>
  `node ${NODE_FLAGS.join(' ')} (as npm start), ` +
  (serverNodeOptions
    ? `NODE_OPTIONS="${serverNodeOptions}"${env.BENCH_NODE_OPTIONS === undefined ? " (the Docker image's)" : ''}`
    : "Node's default heap (BENCH_NODE_OPTIONS empty)");

interface RunPlan {
  name: string;
  fleets: number;
  devicesPerFleet: number;
  intervalMs: number;
  compression: 'none' | 'gzip';
  /** 'backfill': one backfill at pace "max" instead of live streaming. */
  mode?: 'live' | 'backfill';
  /** A fixed rate: the window waits for the start's backlog to be caught up (settleMaxMs). */
  settles?: boolean;
}

/** Fixed rates, then flat out: a target far above what one process can do, block backpressure. */
const PLANS: RunPlan[] = [
  {
    name: '50k',
    fleets: 5,
    devicesPerFleet: 10_000,
    intervalMs: 1000,
    compression: 'none',
    settles: true,
  },
  {
    name: '100k',
    fleets: 10,
    devicesPerFleet: 10_000,
    intervalMs: 1000,
    compression: 'none',
    settles: true,
  },
  { name: 'flat-out', fleets: 10, devicesPerFleet: 10_000, intervalMs: 100, compression: 'none' },
  // A backfill of 10,000 devices at 1 s over simulated days, as fast as the producer takes it.
  {
    name: 'backfill',
    fleets: 1,
    devicesPerFleet: 10_000,
    intervalMs: 1000,
    compression: 'none',
    mode: 'backfill',
  },
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
      execArgv: [...process.execArgv, '--disable-warning=FSTWRN004', ...missingNodeFlags()],
      env: {
        ...env,
        NODE_OPTIONS: serverNodeOptions,
        KAFKA_CLIENT: spec.engine,
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
      `${fmt(measureMs / 1000)} s window after ${fmt(warmupMs / 1000)} s warm-up, ` +
      `server ${nodeOptionsLabel()}`,
  );
  const name = (r: PipelineResult) => `${r.name} · ${engineLabel(r)} (${r.compression})`;
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
      ...(runs.some((r) => r.settle)
        ? [
            `  fixed rates: the window starts once the start's backlog is caught up (nothing due or offered > ${SETTLED_MS} ms late; at most`,
            `  ${fmt(settleMaxMs / 1000)} s after the warm-up):` +
              runs
                .filter((r) => r.settle)
                .map((r) => ` ${r.name} · ${engineLabel(r)}${settleNote(r).slice(1)}`)
                .join(';'),
          ]
        : []),
      ...(runs.some((r) => r.engineConfigured !== r.engine)
        ? [
            '  *: this fleetsim took no kafka.client from KAFKA_CLIENT, so the row ran its only engine (kafkajs)',
          ]
        : []),
    ].join('\n'),
  );
}

/** The engine a run asked for; starred when the server did not take it (no kafka.client yet). */
function engineLabel(r: PipelineResult): string {
  return r.engineConfigured === r.engine ? r.engine : `${r.engine}*`;
}

function printWorkers(runs: WorkersResult[]): void {
  if (!runs.length) return;
  console.log(
    `\nPart 2b — flat out as \`npm start\` runs it with FLEETSIM_WORKERS (node dist/src/main.js, one cluster, default engine), ` +
      `${fmt(measureMs / 1000)} s window after ${fmt(warmupMs / 1000)} s warm-up, ${nodeOptionsLabel()}`,
  );
  console.log(
    table(
      [
        'run',
        'target/s',
        'offsets/s',
        'CPU all processes',
        'µs/msg',
        'CPU broker',
        'RSS',
        'RSS each',
        'partitions',
      ],
      runs.map((r) => [
        r.name,
        fmt(r.targetRate),
        fmt(r.offsetsPerSec),
        `${fmt(r.serverCpuPct)} %`,
        fmt(r.serverCpuUsPerMsg, 1),
        r.brokerCpuPct === undefined ? '-' : `${fmt(r.brokerCpuPct)} %`,
        `${fmt(r.rssMb)} MB`,
        (r.rssMbPerProcess ?? []).map((m) => fmt(m)).join(' + ') || '-',
        r.partitionsPerMember.join(' + ') || '-',
      ]),
    ),
  );
  console.log(
    [
      '  offsets/s: growth of the topic end offsets; CPU: primary + workers, % of one core; RSS each: primary (if any), then each worker, MB; partitions: per member',
      `  the machine has ${cpus().length} cores, shared with the broker: more workers than free cores cannot scale`,
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

function printSarama(build: SaramaBuild | undefined, runs: SaramaResult[]): void {
  if (!build) return;
  console.log(
    `\nPart 4 — the reference design's stack: Go + IBM/sarama AsyncProducer doing fleetsim's job (bench/sarama), same broker, acks=1, no compression, ${PARTITIONS} partitions, ${fmt(SARAMA_DEVICES)} devices`,
  );
  if ('skipped' in build) {
    console.log(`  skipped: ${build.skipped}`);
    return;
  }
  if (!runs.length) return;
  const s = runs[0];
  console.log(
    `  ${s.go}, sarama ${s.sarama}; flush ${s.settings.flushMessages} messages / ${fmt(Number(s.settings.flushBytes) / 2 ** 20)} MiB / ${s.settings.flushFrequencyMs} ms, at most ${s.settings.flushMaxMessages} messages a request, ${s.settings.maxOpenRequests} requests in flight, channel buffer ${s.settings.channelBufferSize}`,
  );
  console.log(
    table(
      [
        'run',
        'target/s',
        'acked msg/s',
        'MiB/s',
        'vs target',
        'send p50',
        'send p99',
        'lag p99',
        'CPU go',
        'µs/msg',
        'peak RSS',
        'books',
      ],
      runs.map((r) => [
        r.name,
        r.targetRate === null ? 'flat out' : fmt(r.targetRate),
        fmt(r.ackedPerSec),
        fmt(r.mibPerSec, 1),
        r.targetRate === null ? '-' : `${fmt((100 * r.ackedPerSec) / r.targetRate, 1)} %`,
        `${fmt(r.sendLatencyMs.p50, 1)} ms`,
        `${fmt(r.sendLatencyMs.p99, 1)} ms`,
        r.scheduleLagMs ? `${fmt(r.scheduleLagMs.p99, 1)} ms` : '-',
        `${fmt(r.cpuPct)} %`,
        fmt(r.cpuUsPerMsg, 1),
        `${fmt(r.peakRssMb)} MB`,
        r.final.balanced && r.final.errors === 0
          ? 'ok'
          : `MISMATCH (${r.final.errors} errors${r.final.firstError ? `: ${r.final.firstError}` : ''})`,
      ]),
    ),
  );
  console.log(
    [
      '  send: per message, from the producer’s input channel to the acknowledgement (includes the flush wait);',
      '  fleetsim’s is per batch. lag: reading generated − scheduled (rate mode, 1 ms tick). CPU go: getrusage',
      '  of the whole process over the window. books ok: after close, generated = acknowledged, no errors',
    ].join('\n'),
  );
}

interface Ratio {
  fleetsim: string;
  baseline: string;
  msgRatio: number;
  mibRatio: number;
}

function ratios(
  runs: PipelineResult[],
  perf: ProducerPerfResult[],
  sarama: SaramaResult[],
): Ratio[] {
  const out: Ratio[] = [];
  for (const r of runs) {
    const label = `${r.name} · ${engineLabel(r)}`;
    if (r.name === 'flat-out' || r.name === 'flat-out-gzip') {
      const pp = r.name === 'flat-out' ? 'pp' : 'pp-gzip';
      const s = perf.find((x) => x.name === pp);
      const summary = s?.steady ?? s?.total;
      if (summary) {
        out.push({
          fleetsim: label,
          baseline: pp,
          msgRatio: r.ackedPerSec / summary.recordsPerSec,
          mibRatio: r.mibPerSec / summary.mbPerSec,
        });
      }
    }
    if (r.name === 'flat-out') {
      const s = sarama.find((x) => x.name === 'sarama-flat-out');
      if (s) {
        out.push({
          fleetsim: label,
          baseline: s.name,
          msgRatio: r.ackedPerSec / s.ackedPerSec,
          mibRatio: r.mibPerSec / s.mibPerSec,
        });
      }
    }
  }
  return out;
}

interface TargetCheck {
  target: string;
  /** A fleetsim engine, or 'sarama' for the reference program's own figure. */
  column: Engine | 'sarama';
  /** The same-run figure, or undefined when its runs were not made. */
  value?: number;
  shown: string;
  met?: boolean;
}

const T = {
  vsPp: 'flat out ≥ 0.5× ProducerPerformance',
  vsSarama: 'flat out ≥ 0.8× Sarama flat out',
  cpu: 'flat out: CPU ≤ 8 µs per acked message',
  rss: 'peak RSS ≤ 512 MB with 100,000 devices',
  acked: '100k schedule: ≥ 99 % acknowledged',
  lag: '100k schedule: schedule lag p99 ≤ 50 ms',
  send: '100k schedule: send p99 ≤ 20 ms',
  eld: '100k schedule: event-loop delay p99 ≤ 20 ms',
  send50: '50k schedule: send p99 ≤ 10 ms',
};

/**
 * Issue 9's targets, each as a same-run figure for each engine, and where it applies the
 * Sarama program's own figure beside them for reference.
 */
function targets(
  runs: PipelineResult[],
  perf: ProducerPerfResult[],
  sarama: SaramaResult[],
): TargetCheck[] {
  const pp = perf.find((x) => x.name === 'pp');
  const ppRate = (pp?.steady ?? pp?.total)?.recordsPerSec;
  const sFlat = sarama.find((x) => x.name === 'sarama-flat-out');
  const s100 = sarama.find((x) => x.name === 'sarama-100k');
  const out: TargetCheck[] = [];
  const ratio = (v: number) => `${fmt(v, 2)}×`;
  const ms = (v: number) => `${fmt(v, 1)} ms`;
  const check = (
    column: TargetCheck['column'],
    target: string,
    value: number | null | undefined,
    ok: (v: number) => boolean,
    shown: (v: number) => string,
  ) => {
    const known = typeof value === 'number' && Number.isFinite(value);
    out.push({
      target,
      column,
      value: known ? value : undefined,
      shown: known ? shown(value) : '-',
      met: known ? ok(value) : undefined,
    });
  };
  for (const engine of engines) {
    const run = (name: string) => runs.find((r) => r.name === name && r.engine === engine);
    const flat = run('flat-out');
    const r100 = run('100k');
    const r50 = run('50k');
    const big = [r100, flat].filter((r) => r !== undefined);
    const c = (
      target: string,
      value: number | undefined,
      ok: (v: number) => boolean,
      shown: (v: number) => string,
    ) => check(engine, target, value, ok, shown);
    c(T.vsPp, flat && ppRate ? flat.ackedPerSec / ppRate : undefined, (v) => v >= 0.5, ratio);
    c(
      T.vsSarama,
      flat && sFlat ? flat.ackedPerSec / sFlat.ackedPerSec : undefined,
      (v) => v >= 0.8,
      ratio,
    );
    c(
      T.cpu,
      flat?.serverCpuUsPerMsg,
      (v) => v <= 8,
      (v) => `${fmt(v, 1)} µs`,
    );
    c(
      T.rss,
      big.length ? Math.max(...big.map((r) => r.peakRssMb)) : undefined,
      (v) => v <= 512,
      (v) => `${fmt(v)} MB`,
    );
    c(
      T.acked,
      r100 ? (100 * r100.ackedPerSec) / r100.targetRate : undefined,
      (v) => v >= 99,
      (v) => `${fmt(v, 1)} %`,
    );
    c(T.lag, r100?.scheduleLagMs.p99, (v) => v <= 50, ms);
    c(T.send, r100?.sendLatencyMs.p99, (v) => v <= 20, ms);
    c(T.eld, r100?.eventLoopDelayMs.p99, (v) => v <= 20, ms);
    c(T.send50, r50?.sendLatencyMs.p99, (v) => v <= 10, ms);
  }
  if (sFlat || s100) {
    check(
      'sarama',
      T.cpu,
      sFlat?.cpuUsPerMsg,
      (v) => v <= 8,
      (v) => `${fmt(v, 1)} µs`,
    );
    const rss = [sFlat, s100].filter((r) => r !== undefined).map((r) => r.peakRssMb);
    check(
      'sarama',
      T.rss,
      Math.max(...rss),
      (v) => v <= 512,
      (v) => `${fmt(v)} MB`,
    );
    check(
      'sarama',
      T.acked,
      s100?.targetRate ? (100 * s100.ackedPerSec) / s100.targetRate : undefined,
      (v) => v >= 99,
      (v) => `${fmt(v, 1)} %`,
    );
    check('sarama', T.lag, s100?.scheduleLagMs?.p99, (v) => v <= 50, ms);
    // Per message including the flush wait, not per batch: stricter than fleetsim's figure.
    check('sarama', T.send, s100?.sendLatencyMs.p99, (v) => v <= 20, ms);
  }
  return out;
}

function printTargets(checks: TargetCheck[], runs: PipelineResult[]): void {
  if (!checks.some((c) => c.met !== undefined)) return;
  const names = Object.values(T).filter((t) => checks.some((c) => c.target === t));
  const columns: TargetCheck['column'][] = [
    ...engines,
    ...(checks.some((c) => c.column === 'sarama') ? (['sarama'] as const) : []),
  ];
  const label = (col: TargetCheck['column']) => {
    if (col === 'sarama') return 'sarama (reference)';
    const r = runs.find((x) => x.engine === col);
    return r ? engineLabel(r) : col;
  };
  console.log("\nIssue 9's targets, same run (met / MISSED; - when the runs were not made):");
  console.log(
    table(
      ['target', ...columns.map(label)],
      names.map((t) => [
        t,
        ...columns.map((col) => {
          const c = checks.find((x) => x.target === t && x.column === col);
          if (!c || c.met === undefined) return '-';
          return `${c.shown} ${c.met ? 'met' : 'MISSED'}`;
        }),
      ]),
    ),
  );
  for (const e of engines) {
    const mine = checks.filter((c) => c.column === e && c.met !== undefined);
    console.log(
      `  ${e}: ${mine.filter((c) => c.met).length} of ${mine.length} measured targets met`,
    );
  }
  if (columns.includes('sarama')) {
    console.log(
      "  sarama (reference): the Go program's own figures where a target applies to it (its send p99 is per",
    );
    console.log(
      '  message and includes the flush wait); CPU is its whole process, fleetsim’s the server’s',
    );
  }
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
  if (quick) {
    log('--quick: a smoke run with short windows; its figures are not meaningful');
  }

  // The Go build and Part 1 run before the broker starts so the JVM does not share the core.
  let saramaBuild: SaramaBuild | undefined;
  if (wanted('sarama-flat-out') || wanted('sarama-100k')) {
    saramaBuild = buildSarama(root, log);
    if ('skipped' in saramaBuild) log(`part 4: skipped: ${saramaBuild.skipped}`);
  }
  let generation: GenerationResult | undefined;
  if (wanted('generation')) {
    log('part 1: generation + serialization');
    generation = runGeneration({ devices: 10_000, seconds: quick ? 1 : 3, anomalyRate: 0.01 });
    printGeneration(generation);
  }

  let embedded: EmbeddedKafka | undefined;
  let brokers =
    env.KAFKA_BROKERS?.split(',')
      .map((b) => b.trim())
      .filter(Boolean) ?? [];
  const needsKafka = [
    '50k',
    '100k',
    'flat-out',
    'backfill',
    ...WORKER_COUNTS.map((n) => `workers-${n}`),
    'pp',
    'flat-out-gzip',
    'pp-gzip',
    ...(saramaBuild && 'binary' in saramaBuild ? ['sarama-flat-out', 'sarama-100k'] : []),
  ].some(wanted);
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
  const sarama: SaramaResult[] = [];
  const workerRuns: WorkersResult[] = [];
  const workerErrors: Array<{ name: string; error: string }> = [];
  const profileTops: { engine: Engine; top: ReturnType<typeof topSelfTime> }[] = [];
  const allocTops: { run: string; top: ReturnType<typeof topAllocations>; perMsg: number }[] = [];
  let payload: string | undefined;

  const pipeline = async (plan: RunPlan, engine: Engine) => {
    const profileFile =
      profile && plan.name === 'flat-out'
        ? join(resultsDir, 'profiles', `${stamp}-flat-out-${engine}.cpuprofile`)
        : undefined;
    const allocProfileFile =
      allocProfile && !plan.name.includes('gzip') && plan.mode !== 'backfill'
        ? join(resultsDir, 'profiles', `${stamp}-${plan.name}-${engine}.heapprofile`)
        : undefined;
    if (profileFile || allocProfileFile) {
      mkdirSync(join(resultsDir, 'profiles'), { recursive: true });
    }
    log(
      `part 2: ${plan.name} · ${engine}: ${plan.fleets} × ${fmt(plan.devicesPerFleet)} devices every ${plan.intervalMs} ms, ${plan.compression}`,
    );
    const result = await runPipeline({
      ...plan,
      engine,
      brokers,
      topic: `bench-${runId}-${plan.name}-${engine}`,
      partitions: PARTITIONS,
      acks: 1,
      warmupMs,
      measureMs,
      settleMaxMs: plan.settles ? settleMaxMs : 0,
      brokerPid,
      profileFile,
      allocProfileFile,
      env: tuning,
    });
    runs.push(result);
    log(
      `  ${plan.name} · ${engineLabel(result)}: ${fmt(result.ackedPerSec)} msg/s acknowledged (${fmt(result.offsetsPerSec)} by offsets)` +
        settleNote(result),
    );
    if (profileFile) profileTops.push({ engine, top: topSelfTime(profileFile, 20) });
    if (allocProfileFile) {
      const top = topAllocations(allocProfileFile, 15);
      const messages = result.ackedPerSec * result.windowSec;
      allocTops.push({ run: `${plan.name} · ${engine}`, top, perMsg: top.totalBytes / messages });
    }
  };

  const producerPerf = async (ppName: string, plan: RunPlan) => {
    const gzip = plan.compression === 'gzip';
    if (gzip) payload ??= payloadFile();
    const topic = `bench-${runId}-${ppName}`;
    await createTopic(brokers, topic);
    // Sized for about 15 s (3 s with --quick) at a rate well above fleetsim's.
    const flat = Math.max(
      100_000,
      ...runs.filter((r) => r.name === plan.name).map((r) => r.ackedPerSec),
    );
    const seconds = quick ? 3 : 15;
    const records = Math.round(Math.min(8e6, Math.max(quick ? 3e5 : 1.5e6, flat * 4 * seconds)));
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
  };

  const saramaRun = async (name: string, mode: 'flat-out' | 'rate') => {
    if (!saramaBuild || 'skipped' in saramaBuild || !wanted(name)) return;
    const topic = `bench-${runId}-${name}`;
    await createTopic(brokers, topic);
    log(`part 4: ${name}: Go + sarama, ${fmt(SARAMA_DEVICES)} devices, ${mode}`);
    const result = await runSarama({
      binary: saramaBuild.binary,
      name,
      brokers,
      topic,
      mode,
      rate: 100_000,
      devices: SARAMA_DEVICES,
      warmupMs,
      measureMs,
    });
    sarama.push(result);
    log(`  ${name}: ${fmt(result.ackedPerSec)} msg/s acknowledged`);
  };

  try {
    // Each fixed rate and the backfill once per engine, side by side; flat out last, so that
    // the three runs the ratio targets compare come back to back, as close to the same noise
    // as a shared machine allows: the first engine flat out, ProducerPerformance, the Sarama
    // program flat out.
    const plain = PLANS.filter((p) => p.compression === 'none');
    const flatPlan = plain.find((p) => p.name === 'flat-out')!;
    for (const plan of plain) {
      if (plan === flatPlan || !wanted(plan.name)) continue;
      for (const engine of engines) await pipeline(plan, engine);
    }
    for (const n of WORKER_COUNTS) {
      const name = `workers-${n}`;
      if (!wanted(name)) continue;
      log(`part 2b: ${name}: FLEETSIM_WORKERS=${n}, flat out as flat-out`);
      // A failed worker run is reported and the bench goes on to the yardsticks.
      const result = await runWorkers(
        {
          name,
          workers: n,
          brokers,
          topic: `bench-${runId}-${name}`,
          partitions: PARTITIONS,
          fleets: flatPlan.fleets,
          devicesPerFleet: flatPlan.devicesPerFleet,
          intervalMs: flatPlan.intervalMs,
          warmupMs,
          measureMs,
          brokerPid,
          env: { ...tuning, NODE_OPTIONS: serverNodeOptions },
        },
        root,
      ).catch((err: Error) => {
        log(`  ${name} FAILED: ${err.message}`);
        workerErrors.push({ name, error: err.message });
        return undefined;
      });
      if (!result) continue;
      workerRuns.push(result);
      log(`  ${name}: ${fmt(result.offsetsPerSec)} msg/s by offsets`);
    }
    const [firstEngine, ...otherEngines] = engines;
    if (firstEngine && wanted(flatPlan.name)) await pipeline(flatPlan, firstEngine);
    if (wanted('pp')) await producerPerf('pp', flatPlan);
    await saramaRun('sarama-flat-out', 'flat-out');
    if (wanted(flatPlan.name)) {
      for (const engine of otherEngines) await pipeline(flatPlan, engine);
    }
    await saramaRun('sarama-100k', 'rate');
    if (withGzip) {
      const gzipPlan = PLANS.find((p) => p.name === 'flat-out-gzip')!;
      if (wanted(gzipPlan.name)) {
        for (const engine of engines) await pipeline(gzipPlan, engine);
      }
      if (wanted('pp-gzip')) await producerPerf('pp-gzip', gzipPlan);
    }
  } finally {
    if (embedded) await embedded.stop();
  }

  // Reported in the plans' order, each plan's engines in BENCH_ENGINES order.
  const planIndex = (r: PipelineResult) => PLANS.findIndex((p) => p.name === r.name);
  runs.sort(
    (a, b) => planIndex(a) - planIndex(b) || engines.indexOf(a.engine) - engines.indexOf(b.engine),
  );
  printPipeline(runs);
  for (const b of runs.filter((r) => r.name === 'backfill')) {
    const live = runs.find((r) => r.name === 'flat-out' && r.engine === b.engine);
    console.log(
      `backfill · ${engineLabel(b)}: ${fmt(b.ackedPerSec)} msg/s acknowledged` +
        (live
          ? ` next to ${fmt(live.ackedPerSec)} msg/s flat-out live (${fmt(b.ackedPerSec / live.ackedPerSec, 2)}×)`
          : ''),
    );
  }
  printWorkers(workerRuns);
  printPerf(perf);
  printSarama(saramaBuild, sarama);
  const rs = ratios(runs, perf, sarama);
  if (rs.length) {
    console.log(
      '\nfleetsim flat out as a share of ProducerPerformance and of the Sarama program, same broker, same run:',
    );
    for (const r of rs) {
      console.log(
        `  ${r.fleetsim} / ${r.baseline}: ${fmt(r.msgRatio, 2)}× msg/s, ${fmt(r.mibRatio, 2)}× MiB/s`,
      );
    }
  }
  const checks = targets(runs, perf, sarama);
  printTargets(checks, runs);
  for (const { engine, top } of profileTops) {
    console.log(
      `\nCPU profile of the flat-out window, ${engine} (top self time, ${fmt(top.totalMs)} ms sampled):`,
    );
    const pct = (n: number) => `${fmt(n, 1).padStart(5)} %`;
    console.log(
      '  by owner (node core and builtins charged to their caller): ' +
        top.owners.map((o) => `${o.area} ${fmt(o.selfPct, 1)} %`).join(', '),
    );
    for (const r of top.rows) console.log(`  ${pct(r.selfPct)}  ${r.fn}  ${r.where}`);
  }
  for (const { run, top, perMsg } of allocTops) {
    console.log(
      `\nAllocation profile of the ${run} window (${fmt(top.totalBytes / 2 ** 20)} MiB sampled, ~${fmt(perMsg)} bytes per acknowledged message):`,
    );
    console.log(
      '  by owner (nearest caller in fleetsim or a library): ' +
        top.owners.map((o) => `${o.area} ${fmt(o.pct, 1)} %`).join(', '),
    );
    for (const r of top.rows) {
      console.log(`  ${fmt(r.pct, 1).padStart(5)} %  ${r.fn}${r.caller ? `  ← ${r.caller}` : ''}`);
    }
  }
  if (quick) console.log('\n--quick: a smoke run with short windows; these figures mean nothing.');

  const report = {
    startedAt: startedAt.toISOString(),
    durationSec: (Date.now() - startedAt.getTime()) / 1000,
    quick,
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
      engines,
      tuning,
      serverNodeOptions,
      serverNodeFlags: [...NODE_FLAGS],
    },
    generation,
    pipeline: runs,
    workers: workerRuns,
    workerErrors,
    producerPerformance: perf,
    sarama: {
      build: saramaBuild && ('skipped' in saramaBuild ? saramaBuild : { go: saramaBuild.go }),
      runs: sarama,
    },
    ratios: rs,
    targets: checks,
    profileTop: profileTops,
  };
  const json = `${JSON.stringify(report, null, 2)}\n`;
  // A quick run never replaces latest.json, the run the READMEs quote.
  const file = join(resultsDir, `${stamp}${quick ? '-quick' : ''}.json`);
  writeFileSync(file, json);
  if (!quick) writeFileSync(join(resultsDir, 'latest.json'), json);
  console.log(
    `\nresults: ${file}${quick ? '' : ' (and bench/results/latest.json)'}; took ${fmt(report.durationSec)} s`,
  );
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
