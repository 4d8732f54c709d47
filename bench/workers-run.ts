/**
 * One run of the bench's `workers-<n>` rows: `node dist/src/main.js` as `npm start` runs it,
 * with FLEETSIM_WORKERS=n (a primary and n worker processes of one cluster behind one port),
 * against the bench's broker and a fresh topic. The fleets are created over REST; the rate is
 * the growth of the topic's end offsets over the window (the workers' producer books are in
 * n processes), and the CPU is summed over the primary and every worker.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import kafkajs from 'kafkajs';
import { procCpuSeconds, procRssBytes } from './stats.js';
import { NODE_FLAGS } from '../src/runtime/node.flags.js';
import { benchServerEnv } from './server-env.js';

export interface WorkersSpec {
  name: string;
  workers: number;
  brokers: string[];
  topic: string;
  partitions: number;
  fleets: number;
  devicesPerFleet: number;
  intervalMs: number;
  warmupMs: number;
  measureMs: number;
  brokerPid?: number;
  /** More environment (the bench's tuning knobs). */
  env: Record<string, string>;
}

export interface WorkersResult {
  name: string;
  workers: number;
  targetRate: number;
  /** Growth of the topic's end offsets (sum of high) per second over the window. */
  offsetsPerSec: number;
  /** CPU of the primary and all workers, % of one core. */
  serverCpuPct: number;
  serverCpuUsPerMsg: number;
  brokerCpuPct?: number;
  /** Sum of the processes' resident set sizes at the end of the window. */
  rssMb: number;
  /** Each process's resident set size at the end of the window: the primary (if any) first. */
  rssMbPerProcess: number[];
  /** Partitions each worker produced at the end of the window (GET /api/v1/simulation). */
  partitionsPerMember: number[];
}

/** The pids of `pid`'s children, from /proc. */
function childrenOf(pid: number): number[] {
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) out.push(Number(name));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

export async function runWorkers(spec: WorkersSpec, root: string): Promise<WorkersResult> {
  const child: ChildProcess = spawn(
    process.execPath,
    [...NODE_FLAGS, join(root, 'dist', 'src', 'main.js')],
    {
      cwd: root,
      env: {
        PATH: process.env.PATH,
        ...benchServerEnv({ ...spec, acks: 1, compression: 'none' }),
        FLEETSIM_WORKERS: String(spec.workers),
        ...spec.env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let url: string | undefined;
  const tail: string[] = [];
  for (const stream of [child.stdout!, child.stderr!]) {
    createInterface({ input: stream }).on('line', (line) => {
      tail.push(line);
      if (tail.length > 20) tail.shift();
      try {
        const parsed = JSON.parse(line) as { url?: unknown };
        if (typeof parsed.url === 'string') url ??= parsed.url;
      } catch {
        // not JSON
      }
    });
  }
  let exited = false;
  const exit = new Promise<void>((resolve) =>
    child.on('exit', () => {
      exited = true;
      resolve();
    }),
  );
  const admin = new kafkajs.Kafka({
    clientId: 'fleetsim-bench',
    brokers: spec.brokers,
    logLevel: kafkajs.logLevel.NOTHING,
  }).admin();
  try {
    const deadline = Date.now() + 120_000;
    while (!url) {
      if (exited || Date.now() > deadline) {
        throw new Error(
          `run ${spec.name}: the server did not listen; last lines:\n${tail.join('\n')}`,
        );
      }
      await sleep(50);
    }
    for (let i = 0; i < spec.fleets; i++) {
      const res = await fetch(`${url}/api/v1/fleets`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          name: `bench-${i}`,
          deviceCount: spec.devicesPerFleet,
          intervalMs: spec.intervalMs,
          seed: 1000 + i,
        }),
      });
      if (res.status !== 201) {
        throw new Error(`run ${spec.name}: POST /api/v1/fleets ${res.status} ${await res.text()}`);
      }
    }
    await admin.connect();
    const offsets = async () => {
      try {
        return (await admin.fetchTopicOffsets(spec.topic)).reduce((n, o) => n + Number(o.high), 0);
      } catch {
        return 0; // not created yet
      }
    };
    // Warm-up from the first reading on: the workers join the group before they produce.
    while ((await offsets()) === 0) {
      if (exited || Date.now() > deadline) throw new Error(`run ${spec.name}: nothing produced`);
      await sleep(100);
    }
    // And until every worker produces some partitions (the group has shared them out).
    const members = async () => {
      const sim = (await (await fetch(`${url}/api/v1/simulation`)).json()) as {
        cluster?: { members: { partitions: number[] }[] };
      };
      return (sim.cluster?.members ?? []).map((m) => m.partitions.length);
    };
    for (;;) {
      const shares = await members();
      if (shares.length >= spec.workers && shares.every((n) => n > 0)) break;
      if (exited || Date.now() > deadline) {
        throw new Error(
          `run ${spec.name}: the workers did not share the partitions: ${shares.join(', ')}; ` +
            `its last output: ${tail.slice(-5).join(' | ')}`,
        );
      }
      await sleep(200);
    }
    await sleep(spec.warmupMs);
    const pids = [child.pid!, ...childrenOf(child.pid!)];
    const cpu = () => pids.reduce((s, p) => s + (procCpuSeconds(p) ?? 0), 0);
    const a = { offsets: await offsets(), t: performance.now(), cpu: cpu() };
    const brokerA = procCpuSeconds(spec.brokerPid);
    await sleep(spec.measureMs);
    const b = { offsets: await offsets(), t: performance.now(), cpu: cpu() };
    const brokerB = procCpuSeconds(spec.brokerPid);
    const rssMbPerProcess = pids.map((p) => (procRssBytes(p) ?? 0) / 2 ** 20);
    const rssMb = rssMbPerProcess.reduce((s, r) => s + r, 0);
    const partitionsPerMember = await members();
    const seconds = (b.t - a.t) / 1000;
    const messages = b.offsets - a.offsets;
    return {
      name: spec.name,
      workers: spec.workers,
      targetRate: (spec.fleets * spec.devicesPerFleet * 1000) / spec.intervalMs,
      offsetsPerSec: messages / seconds,
      serverCpuPct: (100 * (b.cpu - a.cpu)) / seconds,
      serverCpuUsPerMsg: messages > 0 ? ((b.cpu - a.cpu) * 1e6) / messages : 0,
      brokerCpuPct:
        brokerA !== undefined && brokerB !== undefined
          ? (100 * (brokerB - brokerA)) / seconds
          : undefined,
      rssMb,
      rssMbPerProcess,
      partitionsPerMember,
    };
  } finally {
    await admin.disconnect().catch(() => {});
    if (!exited) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
      await exit;
      clearTimeout(timer);
    }
  }
}
