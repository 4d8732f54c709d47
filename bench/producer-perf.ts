/**
 * Part 3: Kafka's own producer benchmark, org.apache.kafka.tools.ProducerPerformance (the
 * class behind kafka-producer-perf-test.sh), from the jars the embedded broker runs on, against
 * the same broker with the same record size, acks, compression and partition count.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { pinnedKafkaVersion, provisionKafkaJars } from '../src/kafka/embedded-kafka.js';
import { procCpuSeconds } from './stats.js';

export interface PerfSummary {
  records: number;
  recordsPerSec: number;
  /** As ProducerPerformance prints it: MiB (2^20) per second of values. */
  mbPerSec: number;
  avgLatencyMs: number;
  maxLatencyMs: number;
  p50Ms: number;
  p95Ms: number;
  p99Ms: number;
  p999Ms: number;
}

export interface ProducerPerfResult {
  name: string;
  kafkaVersion: string;
  topic: string;
  partitions: number;
  command: string;
  wallSec: number;
  /** Summary over all records. */
  total?: PerfSummary;
  /** Summary after the warm-up records (the figure compared against). */
  steady?: PerfSummary;
  /** CPU of the ProducerPerformance JVM over its life, % of one core. */
  clientCpuPct?: number;
  brokerCpuPct?: number;
  error?: string;
}

const SUMMARY =
  /^(\d+) (steady state )?records sent, ([\d.]+) records\/sec \(([\d.]+) MB\/sec\), ([\d.]+) ms avg latency, ([\d.]+) ms max latency, (\d+) ms 50th, (\d+) ms 95th, (\d+) ms 99th, (\d+) ms 99\.9th\.$/;

/** Parses ProducerPerformance's final summary lines (overall, and steady state when warm-up was asked for). */
export function parseSummaries(output: string): { total?: PerfSummary; steady?: PerfSummary } {
  const out: { total?: PerfSummary; steady?: PerfSummary } = {};
  for (const line of output.split('\n')) {
    const m = SUMMARY.exec(line.trim());
    if (!m) continue;
    const summary: PerfSummary = {
      records: Number(m[1]),
      recordsPerSec: Number(m[3]),
      mbPerSec: Number(m[4]),
      avgLatencyMs: Number(m[5]),
      maxLatencyMs: Number(m[6]),
      p50Ms: Number(m[7]),
      p95Ms: Number(m[8]),
      p99Ms: Number(m[9]),
      p999Ms: Number(m[10]),
    };
    if (m[2]) out.steady = summary;
    else out.total = summary;
  }
  return out;
}

export interface ProducerPerfSpec {
  name: string;
  brokers: string[];
  topic: string;
  partitions: number;
  records: number;
  warmupRecords: number;
  /** Exactly one of recordSize and payloadFile. */
  recordSize?: number;
  payloadFile?: string;
  /** Keys 0 … keyRange-1 in turn, like devices taking turns; 0 for null keys. */
  keyRange: number;
  acks: number;
  compression: string;
  lingerMs: number;
  batchSizeBytes: number;
  maxInFlight: number;
  brokerPid?: number;
  timeoutMs: number;
}

export async function runProducerPerf(spec: ProducerPerfSpec): Promise<ProducerPerfResult> {
  const version = pinnedKafkaVersion();
  const classpath = join(provisionKafkaJars(), '*');
  const args = [
    '-Xmx512m',
    '-cp',
    classpath,
    'org.apache.kafka.tools.ProducerPerformance',
    '--bootstrap-server',
    spec.brokers.join(','),
    '--topic',
    spec.topic,
    '--num-records',
    String(spec.records),
    '--warmup-records',
    String(spec.warmupRecords),
    ...(spec.payloadFile
      ? ['--payload-file', spec.payloadFile]
      : ['--record-size', String(spec.recordSize ?? 250)]),
    ...(spec.keyRange > 0
      ? ['--key-distribution', 'range', '--record-key-range', String(spec.keyRange)]
      : []),
    '--throughput',
    '-1',
    '--reporting-interval',
    '5000',
    '--command-property',
    `acks=${spec.acks}`,
    `compression.type=${spec.compression}`,
    `linger.ms=${spec.lingerMs}`,
    `batch.size=${spec.batchSizeBytes}`,
    `max.in.flight.requests.per.connection=${spec.maxInFlight}`,
    'enable.idempotence=false',
  ];
  const command = `java ${args.map((a) => (a === classpath ? `'${a}'` : a)).join(' ')}`;
  const started = performance.now();
  const broker0 = procCpuSeconds(spec.brokerPid);
  const child = spawn('java', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));
  // /proc/<pid> is gone once the JVM exits, so keep the last reading.
  let clientCpu: number | undefined;
  const poll = setInterval(() => (clientCpu = procCpuSeconds(child.pid) ?? clientCpu), 200);
  const timer = setTimeout(() => child.kill('SIGKILL'), spec.timeoutMs);
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  clearTimeout(timer);
  clearInterval(poll);
  const wallSec = (performance.now() - started) / 1000;
  const broker1 = procCpuSeconds(spec.brokerPid);
  const { total, steady } = parseSummaries(output);
  return {
    name: spec.name,
    kafkaVersion: version,
    topic: spec.topic,
    partitions: spec.partitions,
    command,
    wallSec,
    total,
    steady,
    clientCpuPct: clientCpu !== undefined ? (clientCpu * 100) / wallSec : undefined,
    brokerCpuPct:
      broker0 !== undefined && broker1 !== undefined
        ? ((broker1 - broker0) * 100) / wallSec
        : undefined,
    error:
      code === 0 && total
        ? undefined
        : `ProducerPerformance exited ${code}: ${output.trim().split('\n').slice(-5).join(' | ')}`,
  };
}
