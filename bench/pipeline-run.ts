/**
 * Part 2, one run, in a process of its own (started by run-bench.ts with fork): boots the real
 * server (createApp, listening on a free port), creates the fleets, starts the simulation and
 * measures the whole path scheduler → generator → serializer → producer → broker over a
 * window after a warm-up. Reports one PipelineResult over IPC.
 */
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import kafkajs from 'kafkajs';
import '../src/kafka/kafkajs.patch.js';
import { createApp } from '../src/app.factory.js';
import { BackfillService } from '../src/backfill/backfill.service.js';
import { loadConfig } from '../src/config/config.loader.js';
import { FleetService } from '../src/devices/fleet.service.js';
import {
  FleetsimMetrics,
  LOOP_DELAY_RESOLUTION_MS,
  loopDelayMs,
} from '../src/metrics/fleetsim.metrics.js';
import type { OutgoingRecord } from '../src/producer/outgoing.record.js';
import { ProducerService } from '../src/producer/producer.service.js';
import { SimulationService } from '../src/simulation/simulation.service.js';
import { MsHistogram, percentile, procCpuSeconds, SETTLED_MS } from './stats.js';
import { benchServerEnv } from './server-env.js';

/** fleetsim's producer engines (`kafka.client`, env KAFKA_CLIENT). */
export type Engine = 'platformatic' | 'kafkajs';

export interface PipelineSpec {
  name: string;
  /** The producer engine asked for, as KAFKA_CLIENT. */
  engine: Engine;
  brokers: string[];
  topic: string;
  partitions: number;
  fleets: number;
  devicesPerFleet: number;
  intervalMs: number;
  compression: 'none' | 'gzip';
  acks: 1 | -1 | 0;
  warmupMs: number;
  measureMs: number;
  brokerPid?: number;
  /** Write a V8 CPU profile of the measurement window here. */
  profileFile?: string;
  /**
   * Write a sampled allocation profile of the measurement window here (V8's sampling heap
   * profiler, counting objects the scavenger and the full collector freed as well as the
   * survivors: where the bytes the collector has to deal with are allocated).
   */
  allocProfileFile?: string;
  /** Extra environment for loadConfig (KAFKA_BATCH_SIZE, …). */
  env?: Record<string, string>;
  /** 'backfill': one backfill of fleets × devicesPerFleet devices at pace "max" instead of live. */
  mode?: 'live' | 'backfill';
  /**
   * Fixed-rate runs: after the warm-up, wait at most this long (ms) for the schedule to have
   * caught up (SETTLED_MS: nothing due and nothing offered later than that) before the window
   * starts: the start's backlog (the first reading of each device builds its key and parts; in
   * cluster mode nothing is sent until the member owns its partitions, then the slots missed
   * meanwhile go out at once) is not the steady state the targets are about. 0 or absent: the
   * window starts after the warm-up.
   */
  settleMaxMs?: number;
}

/** Checks in a row, 100 ms apart, at which the schedule must be caught up (SETTLED_MS). */
const SETTLED_CHECKS = 5;

export interface PipelineResult {
  name: string;
  /** The engine asked for (KAFKA_CLIENT). */
  engine: Engine;
  /**
   * The server's `kafka.client` after loading that configuration; undefined when this
   * version of fleetsim has no such setting (then kafkajs ran, whatever was asked for).
   */
  engineConfigured?: string;
  topic: string;
  partitions: number;
  devices: number;
  fleets: number;
  intervalMs: number;
  targetRate: number;
  compression: string;
  acks: number;
  producer: {
    batchSize: number;
    batchBytes: number;
    lingerMs: number;
    maxInFlightRequests: number;
    bufferMemory: number;
    backpressure: string;
  };
  windowSec: number;
  generatedPerSec: number;
  /** Acknowledged messages per second by the producer's books. */
  ackedPerSec: number;
  /** Growth of the topic's end offsets (sum of high-water marks) per second. */
  offsetsPerSec: number;
  /** Key + value bytes acknowledged per second, in MiB (2^20, like ProducerPerformance). */
  mibPerSec: number;
  avgValueBytes: number;
  avgKeyBytes: number;
  batchesPerSec: number;
  avgBatchMessages: number;
  sendLatencyMs: { p50: number; p99: number; max: number; batches: number };
  scheduleLagMs: { p50: number; p99: number; max: number };
  eventLoopDelayMs: { p50: number; p99: number; max: number };
  serverCpuPct: number;
  /** Server CPU time per acknowledged message, µs (less sensitive to CPU stolen by others). */
  serverCpuUsPerMsg: number;
  brokerCpuPct?: number;
  peakRssMb: number;
  /** Scheduler lateness at the end of the window, ms. */
  behindMsAtEnd: number;
  /**
   * With settleMaxMs: ms from the simulation's start to the window's, and whether the
   * schedule had caught up by then (false: the window started at settleMaxMs regardless).
   */
  settle?: { windowStartMs: number; caughtUp: boolean };
  /** Messages queued in the producer at the end of the window. */
  queuedAtEnd: number;
  /**
   * Most the producer held (queued + in flight) during the window, as a share of
   * bufferMemory; at 0.8 the block policy holds the scheduler back.
   */
  peakBufferShare: number;
  final: {
    generated: number;
    acknowledged: number;
    failed: number;
    dropped: number;
    retried: number;
    topicMessages: number;
    /** acknowledged equals the topic's message count after the flush. */
    offsetsMatch: boolean;
    /** generated = acknowledged + failed + dropped + queued + inFlight. */
    balanced: boolean;
  };
  profileFile?: string;
}

async function run(spec: PipelineSpec): Promise<PipelineResult> {
  const loaded = loadConfig({
    ...benchServerEnv(spec),
    FLEETSIM_AUTOSTART: 'false',
    KAFKA_CLIENT: spec.engine,
    ...spec.env,
  });
  const app = await createApp(loaded, spec.brokers, false, { json: true });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const producerService = app.get(ProducerService);
  await producerService.ready();
  const simulation = app.get(SimulationService);
  const fleets = app.get(FleetService);
  const metrics = app.get(FleetsimMetrics);
  const producer = producerService;
  const stats = producer.stats();

  // Schedule lag of every reading: wrap the producer's entry point (the sink calls it right
  // after generating and serializing), so the figure does not depend on the lag metric's code.
  const lag = new MsHistogram();
  let keyBytes = 0;
  let valueBytes = 0;
  let offered = 0;
  const offer = producerService.offer.bind(producerService);
  let recentMaxLag = 0;
  producerService.offer = (record: OutgoingRecord): boolean => {
    const late = Date.now() - record.scheduledAt;
    lag.record(late);
    if (late > recentMaxLag) recentMaxLag = late;
    keyBytes += record.key.length;
    valueBytes += record.valueEnd - record.valueStart;
    offered++;
    return offer(record);
  };
  // Send latency of every acknowledged batch, from the producer's own observer.
  let latencies: number[] = [];
  const observe = metrics.sendLatency.observe.bind(metrics.sendLatency);
  metrics.sendLatency.observe = ((seconds: number) => {
    latencies.push(seconds * 1000);
    observe(seconds);
  }) as typeof metrics.sendLatency.observe;

  // The topic's offsets through a client of its own, whichever engine produces.
  const admin = new kafkajs.Kafka({
    clientId: 'fleetsim-bench',
    brokers: spec.brokers,
    logLevel: kafkajs.logLevel.NOTHING,
  }).admin();
  await admin.connect();
  const topicMessages = async () =>
    (await admin.fetchTopicOffsets(spec.topic)).reduce((n, o) => n + Number(o.high), 0);

  const backfills = app.get(BackfillService);
  let backfillId: string | undefined;
  if (spec.mode === 'backfill') {
    // A simulated day (864 million readings), far more than the window can take: the backfill runs flat out throughout.
    backfillId = backfills.create({
      fleet: {
        name: 'bench-backfill',
        deviceCount: Math.min(100_000, spec.fleets * spec.devicesPerFleet),
        intervalMs: spec.intervalMs,
        seed: 1000,
      },
      from: '2026-01-01T00:00:00Z',
      to: '2026-01-02T00:00:00Z',
      pace: 'max',
    }).id;
  }
  for (let i = 0; i < (spec.mode === 'backfill' ? 0 : spec.fleets); i++) {
    await fleets.create({
      name: `bench-${i}`,
      deviceCount: spec.devicesPerFleet,
      intervalMs: spec.intervalMs,
      seed: 1000 + i,
    } as Parameters<FleetService['create']>[0]);
  }
  const eld = monitorEventLoopDelay({ resolution: LOOP_DELAY_RESOLUTION_MS });
  eld.enable();
  if (!backfillId) simulation.start();
  const startedAt = performance.now();
  await sleep(spec.warmupMs);
  let settle: PipelineResult['settle'];
  if (spec.settleMaxMs) {
    const until = startedAt + spec.warmupMs + spec.settleMaxMs;
    // Caught up: nothing due is older than SETTLED_MS, and nothing offered since the last
    // check was (in cluster mode a member sends the slots it missed before it owned its
    // partitions once it owns them, with their own times, after the scheduler caught up).
    let inRow = 0;
    recentMaxLag = 0;
    while (inRow < SETTLED_CHECKS && performance.now() < until) {
      const onTime =
        simulation.scheduler.behind(Date.now()) <= SETTLED_MS && recentMaxLag <= SETTLED_MS;
      recentMaxLag = 0;
      inRow = onTime ? inRow + 1 : 0;
      if (inRow < SETTLED_CHECKS) await sleep(100);
    }
    const caughtUp = inRow >= SETTLED_CHECKS;
    settle = { windowStartMs: Math.round(performance.now() - startedAt), caughtUp };
  }

  let session: Session | undefined;
  if (spec.profileFile) {
    session = new Session();
    session.connect();
    await session.post('Profiler.enable');
    await session.post('Profiler.start');
  }
  if (spec.allocProfileFile) {
    if (!session) {
      session = new Session();
      session.connect();
    }
    await session.post('HeapProfiler.enable');
    await session.post('HeapProfiler.startSampling', {
      samplingInterval: 32768,
      includeObjectsCollectedByMajorGC: true,
      includeObjectsCollectedByMinorGC: true,
    });
  }
  const snap = async () => {
    const offsets = await topicMessages();
    return {
      offsets,
      t: performance.now(),
      cpu: process.cpuUsage(),
      broker: procCpuSeconds(spec.brokerPid),
      generated: stats.generated,
      acknowledged: stats.acknowledged,
      bytes: stats.bytes,
      batches: stats.batches,
    };
  };
  const a = await snap();
  lag.reset();
  latencies = [];
  keyBytes = valueBytes = offered = 0;
  eld.reset();
  let peakBuffered = 0;
  const sampler = setInterval(() => {
    peakBuffered = Math.max(peakBuffered, producer.bufferedBytes);
  }, 50);
  await sleep(spec.measureMs);
  clearInterval(sampler);
  const b = await snap();
  const eldP50 = loopDelayMs(eld, 50);
  const eldP99 = loopDelayMs(eld, 99);
  const eldMax = Math.max(0, eld.max / 1e6 - LOOP_DELAY_RESOLUTION_MS);
  const behindMsAtEnd = simulation.scheduler.behind(Date.now());
  const queuedAtEnd = stats.queued;
  const lagSnapshot = { p50: lag.percentile(50), p99: lag.percentile(99), max: lag.max };
  const batchLatencies = latencies;
  const sampleBytes = { key: keyBytes / offered, value: valueBytes / offered };
  if (session && spec.profileFile) {
    const { profile } = await session.post('Profiler.stop');
    writeFileSync(spec.profileFile, JSON.stringify(profile));
  }
  if (session && spec.allocProfileFile) {
    const { profile } = await session.post('HeapProfiler.stopSampling');
    writeFileSync(spec.allocProfileFile, JSON.stringify(profile));
  }
  session?.disconnect();

  // Stop generating, send what is queued, and check the books against the topic.
  if (backfillId) backfills.cancel(backfillId);
  simulation.stop();
  await Promise.race([producer.flush(), sleep(60_000)]);
  const inTopic = await topicMessages();
  const peakRssMb = process.resourceUsage().maxRSS / 1024;
  await admin.disconnect();

  const secs = (b.t - a.t) / 1000;
  const cpuUs = b.cpu.user + b.cpu.system - (a.cpu.user + a.cpu.system);
  const acked = b.acknowledged - a.acknowledged;
  const p = loaded.config.producer;
  const result: PipelineResult = {
    name: spec.name,
    engine: spec.engine,
    engineConfigured: (loaded.config.kafka as { client?: string }).client,
    topic: spec.topic,
    partitions: producerService.topicInfo().partitions,
    devices: spec.fleets * spec.devicesPerFleet,
    fleets: spec.fleets,
    intervalMs: spec.intervalMs,
    targetRate: (spec.fleets * spec.devicesPerFleet * 1000) / spec.intervalMs,
    compression: spec.compression,
    acks: spec.acks,
    producer: {
      batchSize: p.batchSize,
      batchBytes: p.batchBytes,
      lingerMs: p.lingerMs,
      maxInFlightRequests: p.maxInFlightRequests,
      bufferMemory: p.bufferMemory,
      backpressure: p.backpressure,
    },
    windowSec: secs,
    generatedPerSec: (b.generated - a.generated) / secs,
    ackedPerSec: acked / secs,
    offsetsPerSec: (b.offsets - a.offsets) / secs,
    mibPerSec: (b.bytes - a.bytes) / secs / 2 ** 20,
    avgValueBytes: sampleBytes.value,
    avgKeyBytes: sampleBytes.key,
    batchesPerSec: (b.batches - a.batches) / secs,
    avgBatchMessages: acked / Math.max(1, b.batches - a.batches),
    sendLatencyMs: {
      p50: percentile(batchLatencies, 50),
      p99: percentile(batchLatencies, 99),
      max: percentile(batchLatencies, 100),
      batches: batchLatencies.length,
    },
    scheduleLagMs: lagSnapshot,
    eventLoopDelayMs: { p50: eldP50, p99: eldP99, max: eldMax },
    serverCpuPct: cpuUs / 1e4 / secs,
    serverCpuUsPerMsg: cpuUs / Math.max(1, acked),
    brokerCpuPct:
      a.broker !== undefined && b.broker !== undefined
        ? ((b.broker - a.broker) * 100) / secs
        : undefined,
    peakRssMb,
    behindMsAtEnd,
    settle,
    queuedAtEnd,
    peakBufferShare: peakBuffered / p.bufferMemory,
    final: {
      generated: stats.generated,
      acknowledged: stats.acknowledged,
      failed: stats.failed,
      dropped: stats.droppedTotal,
      retried: stats.retried,
      topicMessages: inTopic,
      offsetsMatch: inTopic === stats.acknowledged,
      balanced: stats.balanced(),
    },
    profileFile: spec.profileFile,
  };
  await app.close();
  return result;
}

const spec = JSON.parse(process.env.BENCH_PIPELINE_SPEC ?? 'null') as PipelineSpec | null;
if (!spec || !process.send) {
  console.error('pipeline-run.js is started by run-bench.js (npm run bench)');
  process.exit(2);
}
run(spec).then(
  (result) => process.send!({ result }, () => process.exit(0)),
  (err: Error) => process.send!({ error: err.stack ?? err.message }, () => process.exit(1)),
);
