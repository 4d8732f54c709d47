import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { projectRoot } from '../../src/kafka/project-root.js';
import { NODE_FLAGS } from '../../src/runtime/node.flags.js';
import { testBrokers } from './kafka.js';
import { uniqueClusterName, waitFor } from './app.js';

/** One JSON log line of the server. */
export type LogLine = Record<string, unknown> & { level: string; message: string };

export interface ServerProcess {
  child: ChildProcess;
  url: string;
  /** Every JSON log line so far, stdout and stderr, in order. */
  lines: LogLine[];
  /** Lines that were not JSON (Node warnings and the like). */
  other: string[];
  /** Resolves with the exit code (null when killed by a signal) and signal. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Polls the log until a line matches, and returns it. */
  waitForLine(what: string, match: (line: LogLine) => boolean, ms?: number): Promise<LogLine>;
  /** Kills the process if it still runs (test clean-up). */
  kill(): Promise<void>;
}

/**
 * Starts `node dist/src/main.js` as an operator would (with the flags of `npm start`), with JSON logs, against the test
 * broker on a free port, and resolves once it logs the URL it listens on.
 */
export async function spawnServer(env: Record<string, string> = {}): Promise<ServerProcess> {
  const root = projectRoot();
  const child = spawn(process.execPath, [...NODE_FLAGS, join(root, 'dist', 'src', 'main.js')], {
    cwd: root,
    env: {
      PATH: process.env.PATH,
      KAFKAJS_NO_PARTITIONER_WARNING: '1',
      KAFKA_BROKERS: testBrokers().join(','),
      PORT: '0',
      HOST: '127.0.0.1',
      // A cluster of its own unless the test names one (see startApp).
      FLEETSIM_CLUSTER_NAME: uniqueClusterName(),
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: LogLine[] = [];
  const other: string[] = [];
  for (const stream of [child.stdout!, child.stderr!]) {
    createInterface({ input: stream }).on('line', (text) => {
      try {
        const parsed = JSON.parse(text) as unknown;
        if (parsed && typeof parsed === 'object') lines.push(parsed as LogLine);
        else other.push(text);
      } catch {
        other.push(text);
      }
    });
  }
  let done = false;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => {
      done = true;
      resolve({ code, signal });
    }),
  );
  const waitForLine = (what: string, match: (line: LogLine) => boolean, ms = 60_000) =>
    waitFor(
      what,
      () => {
        const found = lines.find(match);
        if (found) return found;
        if (done) {
          throw new Error(
            `the server exited while waiting for ${what}; last lines:\n` +
              [...lines.slice(-10).map((l) => JSON.stringify(l)), ...other.slice(-10)].join('\n'),
          );
        }
        return undefined;
      },
      ms,
    );
  const kill = async () => {
    if (done) return;
    child.kill('SIGKILL');
    await exited;
  };
  try {
    const listening = await waitForLine(
      'the server to listen',
      (l) => l.context === 'fleetsim' && typeof l.url === 'string',
    );
    return { child, url: listening.url as string, lines, other, exited, waitForLine, kill };
  } catch (err) {
    await kill();
    throw err;
  }
}

/** Sends SIGTERM and waits, at most `ms`, for the process to exit; resolves with how it exited. */
export async function terminate(
  server: ServerProcess,
  ms = 90_000,
): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  server.child.kill('SIGTERM');
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`the server did not exit within ${ms} ms of SIGTERM`)),
      ms,
    );
  });
  try {
    return await Promise.race([server.exited, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
