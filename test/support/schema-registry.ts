/**
 * A real Schema Registry for the Confluent wire-format tests: Apicurio Registry, assembled from
 * Maven Central by schema-registry/ (docs/schema-registry.md) into .cache/apicurio, started on
 * a free loopback port with its in-memory storage, and stopped by the test.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { projectRoot } from '../../src/kafka/project-root.js';

/** The Apicurio Registry version schema-registry/runner/pom.xml builds. */
export const APICURIO_VERSION = '2.4.2.Final';

/** Where the runnable registry goes: <dir>/apicurio-registry-1-runner.jar and <dir>/lib. */
export function schemaRegistryDir(root = projectRoot()): string {
  return join(root, '.cache', 'apicurio', APICURIO_VERSION);
}

function mvn(root: string, args: string[]): void {
  const res = spawnSync('mvn', ['-q', '-B', ...args], {
    cwd: root,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    maxBuffer: 64 * 1024 * 1024,
  });
  if (res.error) throw new Error(`building the Schema Registry needs Maven: ${res.error.message}`);
  if (res.status !== 0) {
    const tail = (res.stdout + res.stderr).trim().split('\n').slice(-20).join('\n');
    throw new Error(`mvn ${args.join(' ')} exited ${res.status}:\n${tail}`);
  }
}

/**
 * Builds the registry into .cache/apicurio/<version> unless it is there (a marker file says
 * the build completed); returns the runner jar. Takes a few minutes the first time.
 */
export function provisionSchemaRegistry(
  log: (m: string) => void = () => {},
  root = projectRoot(),
): string {
  const home = schemaRegistryDir(root);
  const jar = join(home, 'apicurio-registry-1-runner.jar');
  const marker = join(home, '.complete');
  if (existsSync(marker)) return jar;

  log(`building Apicurio Registry ${APICURIO_VERSION} from Maven Central into ${home}`);
  rmSync(home, { recursive: true, force: true });
  const build = join(home, 'build');
  mkdirSync(build, { recursive: true });
  // The one artifact Central lacks, rebuilt from source into the local Maven repository.
  mvn(root, [
    '-f',
    join(root, 'schema-registry', 'config-index-deployment', 'pom.xml'),
    'install',
    `-Dfleetsim.buildDir=${join(build, 'config-index-deployment')}`,
  ]);
  const out = join(build, 'runner');
  mvn(root, [
    '-f',
    join(root, 'schema-registry', 'runner', 'pom.xml'),
    'package',
    `-Dfleetsim.buildDir=${out}`,
  ]);
  // Quarkus 2.16's legacy-jar layout (Apicurio's setting): a runner jar beside lib/.
  for (const name of readdirSync(out)) {
    if (name === 'lib' || name.endsWith('-runner.jar')) {
      renameSync(join(out, name), join(home, name));
    }
  }
  rmSync(build, { recursive: true, force: true });
  if (!existsSync(jar)) throw new Error(`the registry build left no ${jar}`);
  writeFileSync(marker, new Date().toISOString());
  return jar;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr ? resolve(addr.port) : reject()));
    });
  });
}

export interface RunningSchemaRegistry {
  /** Base URL of the Confluent-compatible API, e.g. http://127.0.0.1:PORT/apis/ccompat/v7 */
  url: string;
  stop(): Promise<void>;
}

/**
 * Starts the registry on a free loopback port and resolves once GET /subjects answers 200
 * (polled every 250 ms, up to `timeoutMs`). Its output is kept for the error message.
 */
export async function startSchemaRegistry(timeoutMs = 120_000): Promise<RunningSchemaRegistry> {
  const jar = provisionSchemaRegistry((m) => console.log(m));
  const port = await freePort();
  const child: ChildProcess = spawn('java', ['-Xmx384m', '-jar', jar], {
    env: { ...process.env, HTTP_PORT: String(port), QUARKUS_HTTP_HOST: '127.0.0.1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const keep = (b: Buffer) => (output = (output + b.toString()).slice(-8000));
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  let exited: number | null | undefined;
  const done = new Promise<void>((resolve) =>
    child.once('exit', (code) => {
      exited = code;
      resolve();
    }),
  );
  const stop = async () => {
    if (exited === undefined) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await done;
      clearTimeout(timer);
    }
  };
  const url = `http://127.0.0.1:${port}/apis/ccompat/v7`;
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline && exited === undefined) {
    try {
      const res = await fetch(`${url}/subjects`);
      if (res.status === 200) return { url, stop };
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  await stop();
  throw new Error(
    `the Schema Registry did not answer on ${url} within ${timeoutMs} ms` +
      (exited !== undefined ? ` (it exited ${exited})` : '') +
      `:\n${output}`,
  );
}
