import cluster from 'node:cluster';
import { availableParallelism } from 'node:os';

/** FLEETSIM_WORKERS: a positive integer, or `auto` for one per core; default 1. */
export function workerCount(raw: string | undefined): number {
  const value = raw?.trim().toLowerCase();
  if (!value) return 1;
  if (value === 'auto') return availableParallelism();
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 256) {
    throw new Error(`FLEETSIM_WORKERS=${raw}: give a whole number from 1 to 256, or auto`);
  }
  return n;
}

export interface PrimaryOptions {
  workers: number;
  /** Environment every worker gets on top of the primary's (brokers, cluster on). */
  env: Record<string, string>;
  log: (message: string) => void;
  /** Called once every worker has exited after a signal. */
  stopped: () => Promise<void>;
}

/**
 * The primary of FLEETSIM_WORKERS > 1: forks the workers, each a full fleetsim process in the
 * same cluster; they share one listening port (node:cluster hands connections round-robin),
 * so one REST endpoint serves them all. A worker that dies is started again; SIGTERM/SIGINT
 * are passed on and the primary exits once every worker has left (each hands its partitions
 * over cleanly).
 */
export function runPrimary(options: PrimaryOptions): void {
  let stopping = false;
  const fork = () => cluster.fork({ ...options.env, FLEETSIM_WORKER: '1' });
  for (let i = 0; i < options.workers; i++) fork();
  cluster.on('exit', (worker, code, signal) => {
    if (stopping) {
      if (Object.keys(cluster.workers ?? {}).length === 0) {
        void options.stopped().then(() => process.exit(0));
      }
      return;
    }
    options.log(`worker ${worker.process.pid} exited (${signal ?? code}); starting another`);
    fork();
  });
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    options.log(`${signal} received: stopping ${options.workers} workers`);
    const workers = Object.values(cluster.workers ?? {});
    if (workers.length === 0) void options.stopped().then(() => process.exit(0));
    for (const w of workers) w?.process.kill(signal);
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
}

/** True in a worker forked by runPrimary. */
export const isWorker = () => cluster.isWorker;
