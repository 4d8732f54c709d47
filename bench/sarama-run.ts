/**
 * Part 4: the reference design's stack, Go + IBM/sarama (bench/sarama/main.go), doing
 * fleetsim's job against the same broker. Built with the Go toolchain into .cache/bench/;
 * when `go` is missing or the build fails, the rows are skipped with the reason.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';

interface Latency {
  p50: number | null;
  p99: number | null;
  max: number | null;
  samples: number;
}

/** The JSON line bench/sarama/main.go prints, plus what the bench adds. */
export interface SaramaResult {
  name: string;
  mode: 'flat-out' | 'rate';
  topic: string;
  devices: number;
  /** Messages per second asked for (rate mode); null flat out. */
  targetRate: number | null;
  windowSec: number;
  generatedPerSec: number;
  ackedPerSec: number;
  mibPerSec: number;
  acknowledged: number;
  errors: number;
  avgValueBytes: number;
  avgKeyBytes: number;
  cpuSeconds: number;
  /** Process CPU (getrusage, all threads) over the window, % of one core. */
  cpuPct: number;
  cpuUsPerMsg: number;
  peakRssMb: number;
  /** Per message, from handing it to the producer's input channel to its acknowledgement. */
  sendLatencyMs: Latency;
  /** Rate mode: generated − scheduled, per message. */
  scheduleLagMs?: Latency;
  settings: Record<string, number | string | boolean>;
  final: {
    generated: number;
    acknowledged: number;
    errors: number;
    balanced: boolean;
    firstError?: string;
  };
  go: string;
  sarama: string;
}

export type SaramaBuild = { binary: string; go: string } | { skipped: string };

/** Builds bench/sarama into .cache/bench/sarama-bench with the `go` on PATH. */
export function buildSarama(root: string, log: (m: string) => void): SaramaBuild {
  const version = spawnSync('go', ['version'], { encoding: 'utf8' });
  if (version.error) {
    return {
      skipped: `no Go toolchain: \`go\` is not on PATH (${(version.error as NodeJS.ErrnoException).code}); install Go to get the Sarama rows`,
    };
  }
  const out = join(root, '.cache', 'bench');
  mkdirSync(out, { recursive: true });
  const binary = join(out, 'sarama-bench');
  log(
    `part 4: building bench/sarama with ${version.stdout.trim()} (the first build fetches modules from the Go module proxy)`,
  );
  const build = spawnSync('go', ['build', '-trimpath', '-o', binary, '.'], {
    cwd: join(root, 'bench', 'sarama'),
    encoding: 'utf8',
    timeout: 600_000,
  });
  if (build.error || build.status !== 0) {
    const why = build.error?.message ?? build.stderr.trim().split('\n').slice(-3).join(' | ');
    return { skipped: `go build failed: ${why}` };
  }
  return { binary, go: version.stdout.trim() };
}

export interface SaramaSpec {
  binary: string;
  name: string;
  brokers: string[];
  topic: string;
  mode: 'flat-out' | 'rate';
  rate?: number;
  devices: number;
  warmupMs: number;
  measureMs: number;
}

export async function runSarama(spec: SaramaSpec): Promise<SaramaResult> {
  const args = [
    '-brokers',
    spec.brokers.join(','),
    '-topic',
    spec.topic,
    '-name',
    spec.name,
    '-mode',
    spec.mode,
    '-rate',
    String(spec.rate ?? 100_000),
    '-devices',
    String(spec.devices),
    '-warmup',
    `${spec.warmupMs}ms`,
    '-measure',
    `${spec.measureMs}ms`,
  ];
  const child = spawn(spec.binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), spec.warmupMs + spec.measureMs + 120_000);
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  clearTimeout(timer);
  const line = stdout.trim().split('\n').pop() ?? '';
  if (code !== 0 || !line.startsWith('{')) {
    throw new Error(
      `sarama-bench ${spec.name} exited ${code}: ${stderr.trim().split('\n').slice(-5).join(' | ')}`,
    );
  }
  return JSON.parse(line) as SaramaResult;
}
