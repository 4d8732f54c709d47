import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import {
  createWriteStream,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import kafkajs from 'kafkajs';
import './kafkajs.patch.js';
import { projectRoot } from './project-root.js';

export interface EmbeddedKafkaOptions {
  /** Client listener port; 0 picks a free one. A busy fixed port falls back to a free one. */
  port?: number;
  /** JVM heap, e.g. 768m. */
  heap?: string;
  /** Default partitions of auto-created topics. */
  partitions?: number;
  /** Progress messages (jar download, start, stop). */
  log?: (message: string) => void;
  /** Most time to wait for the broker to answer, in ms. */
  startTimeoutMs?: number;
}

/** The embedded broker could not be provisioned or started; the message says what to do. */
export class EmbeddedKafkaError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'EmbeddedKafkaError';
  }
}

const ALTERNATIVES =
  'Alternatives: point fleetsim at a running broker with KAFKA_BROKERS=host:9092, ' +
  'or start one with `docker compose up kafka` (see README.md).';

/** The Kafka version pinned by kafka/pom.xml. */
export function pinnedKafkaVersion(root = projectRoot()): string {
  const pom = readFileSync(join(root, 'kafka', 'pom.xml'), 'utf8');
  const match = /<kafka\.version>([^<]+)<\/kafka\.version>/.exec(pom);
  if (!match) throw new EmbeddedKafkaError('kafka/pom.xml does not pin <kafka.version>');
  return match[1];
}

function checkJava(): void {
  const res = spawnSync('java', ['-version'], { encoding: 'utf8' });
  if (res.error) {
    throw new EmbeddedKafkaError(
      'No brokers are configured, so fleetsim wants to start an embedded Apache Kafka, ' +
        'which needs Java 17 or newer on the PATH (e.g. `apt-get install openjdk-17-jre-headless`). ' +
        ALTERNATIVES,
    );
  }
  const major = /version "(\d+)/.exec(res.stderr ?? '')?.[1];
  if (major && Number(major) < 17) {
    throw new EmbeddedKafkaError(
      `The embedded Apache Kafka needs Java 17 or newer; found Java ${major}. ${ALTERNATIVES}`,
    );
  }
}

/**
 * Makes sure the broker's jars are in .cache/kafka/<version>/libs, fetching them from Maven
 * Central with `mvn dependency:copy-dependencies` on first use. Returns the libs folder.
 */
export function provisionKafkaJars(
  log: (m: string) => void = () => {},
  root = projectRoot(),
): string {
  const version = pinnedKafkaVersion(root);
  const home = join(root, '.cache', 'kafka', version);
  const libs = join(home, 'libs');
  const marker = join(home, '.complete');
  if (existsSync(marker)) return libs;

  const mvn = spawnSync('mvn', ['--version'], { encoding: 'utf8' });
  if (mvn.error) {
    throw new EmbeddedKafkaError(
      `The embedded Apache Kafka ${version} is not cached yet and fetching its jars needs Maven ` +
        '(`apt-get install maven`) and access to Maven Central. ' +
        ALTERNATIVES,
    );
  }
  log(`fetching Apache Kafka ${version} jars from Maven Central into ${libs} (first start only)`);
  rmSync(home, { recursive: true, force: true });
  mkdirSync(home, { recursive: true });
  const res = spawnSync(
    'mvn',
    [
      '-q',
      '-B',
      '-f',
      join(root, 'kafka', 'pom.xml'),
      'dependency:copy-dependencies',
      `-DoutputDirectory=${libs}`,
      '-DincludeScope=runtime',
    ],
    { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] },
  );
  if (res.status !== 0) {
    throw new EmbeddedKafkaError(
      `Fetching the Apache Kafka ${version} jars failed (mvn exited ${res.status}):\n` +
        `${(res.stdout + res.stderr).trim().split('\n').slice(-15).join('\n')}\n${ALTERNATIVES}`,
    );
  }
  writeFileSync(marker, new Date().toISOString());
  return libs;
}

async function freePort(preferred = 0): Promise<number> {
  const tryListen = (port: number) =>
    new Promise<number | undefined>((resolve) => {
      const srv = createServer();
      srv.once('error', () => resolve(undefined));
      srv.listen(port, '127.0.0.1', () => {
        const addr = srv.address();
        srv.close(() => resolve(typeof addr === 'object' && addr ? addr.port : undefined));
      });
    });
  if (preferred > 0) {
    const got = await tryListen(preferred);
    if (got) return got;
  }
  const got = await tryListen(0);
  if (!got) throw new EmbeddedKafkaError('no free TCP port for the embedded broker');
  return got;
}

/**
 * A single-node Apache Kafka (KRaft, combined broker and controller) run from the jars that
 * kafka/pom.xml pins. Storage is formatted fresh in a temporary folder on every start and
 * removed on stop.
 */
export class EmbeddedKafka {
  private child?: ChildProcess;
  private exited?: Promise<number | null>;
  private dataDir?: string;
  private killOnExit?: () => void;
  port = 0;

  constructor(private readonly options: EmbeddedKafkaOptions = {}) {}

  get brokers(): string[] {
    return [`127.0.0.1:${this.port}`];
  }

  /** Process id of the broker's JVM while it runs (for CPU accounting). */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null;
  }

  /** The broker's own log file, useful when it misbehaves. */
  get logFile(): string | undefined {
    return this.dataDir && join(this.dataDir, 'broker.log');
  }

  async start(): Promise<string[]> {
    const log = this.options.log ?? (() => {});
    checkJava();
    const libs = provisionKafkaJars(log);
    const classpath = join(libs, '*');
    if (!this.dataDir) {
      this.dataDir = mkdtempSync(join(tmpdir(), 'fleetsim-kafka-'));
      this.port = await freePort(this.options.port ?? 0);
      const controllerPort = await freePort(0);
      this.writeConfig(controllerPort);
      const format = spawnSync(
        'java',
        [
          '-cp',
          classpath,
          'kafka.tools.StorageTool',
          'format',
          '-t',
          clusterId(),
          '-c',
          this.serverProperties,
        ],
        { encoding: 'utf8' },
      );
      if (format.status !== 0) {
        throw new EmbeddedKafkaError(
          `formatting the embedded broker's storage failed:\n${format.stdout}${format.stderr}`,
        );
      }
    }
    await this.launch(classpath);
    log(`embedded Apache Kafka ${pinnedKafkaVersion()} is up on ${this.brokers[0]}`);
    return this.brokers;
  }

  /** Stops the broker (SIGTERM, then SIGKILL after a grace period) and keeps its storage. */
  async pause(graceMs = 20_000): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(timer);
    if (this.killOnExit) process.off('exit', this.killOnExit);
  }

  /** Stops the broker and removes its storage. */
  async stop(): Promise<void> {
    await this.pause();
    if (this.dataDir) rmSync(this.dataDir, { recursive: true, force: true });
    this.dataDir = undefined;
    this.child = undefined;
  }

  private get serverProperties(): string {
    return join(this.dataDir!, 'server.properties');
  }

  private writeConfig(controllerPort: number): void {
    const dir = this.dataDir!;
    const partitions = this.options.partitions ?? 6;
    writeFileSync(
      this.serverProperties,
      [
        'process.roles=broker,controller',
        'node.id=1',
        `controller.quorum.voters=1@127.0.0.1:${controllerPort}`,
        `listeners=PLAINTEXT://127.0.0.1:${this.port},CONTROLLER://127.0.0.1:${controllerPort}`,
        `advertised.listeners=PLAINTEXT://127.0.0.1:${this.port}`,
        'controller.listener.names=CONTROLLER',
        'inter.broker.listener.name=PLAINTEXT',
        'listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT',
        `log.dirs=${join(dir, 'logs')}`,
        `num.partitions=${partitions}`,
        'offsets.topic.replication.factor=1',
        'offsets.topic.num.partitions=6',
        'transaction.state.log.replication.factor=1',
        'transaction.state.log.min.isr=1',
        'share.coordinator.state.topic.replication.factor=1',
        'share.coordinator.state.topic.min.isr=1',
        'group.initial.rebalance.delay.ms=0',
        'auto.create.topics.enable=true',
        'log.retention.hours=2',
        'log.segment.bytes=134217728',
        '',
      ].join('\n'),
    );
    writeFileSync(
      join(dir, 'log4j2.properties'),
      [
        'status = warn',
        'appender.console.type = Console',
        'appender.console.name = STDOUT',
        'appender.console.layout.type = PatternLayout',
        'appender.console.layout.pattern = [%d] %p %m (%c)%n',
        'rootLogger.level = INFO',
        'rootLogger.appenderRef.stdout.ref = STDOUT',
        'logger.kafka.name = kafka',
        'logger.kafka.level = INFO',
        'logger.state.name = state.change.logger',
        'logger.state.level = WARN',
        '',
      ].join('\n'),
    );
  }

  private async launch(classpath: string): Promise<void> {
    const dir = this.dataDir!;
    const heap = this.options.heap ?? '768m';
    const out = createWriteStream(join(dir, 'broker.log'), { flags: 'a' });
    const child = spawn(
      'java',
      [
        `-Xmx${heap}`,
        '-Xms256m',
        '-XX:+UseG1GC',
        '-XX:MaxGCPauseMillis=20',
        '-Djava.awt.headless=true',
        `-Dlog4j2.configurationFile=${join(dir, 'log4j2.properties')}`,
        '-cp',
        classpath,
        'kafka.Kafka',
        this.serverProperties,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    child.stdout!.pipe(out);
    child.stderr!.pipe(out);
    this.child = child;
    this.exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
    this.killOnExit = () => child.kill('SIGKILL');
    process.once('exit', this.killOnExit);
    await this.waitUntilReady(this.options.startTimeoutMs ?? 90_000);
  }

  private async waitUntilReady(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    const kafka = new kafkajs.Kafka({
      clientId: 'fleetsim-embedded-probe',
      brokers: this.brokers,
      logLevel: kafkajs.logLevel.NOTHING,
      retry: { retries: 0 },
      connectionTimeout: 1000,
    });
    let lastError = '';
    while (Date.now() < deadline) {
      if (!this.running) {
        throw new EmbeddedKafkaError(
          `the embedded broker exited during start-up; last lines of ${this.logFile}:\n${this.tail()}`,
        );
      }
      const admin = kafka.admin();
      try {
        await admin.connect();
        const cluster = await admin.describeCluster();
        if (cluster.brokers.length > 0) return;
      } catch (err) {
        lastError = (err as Error).message;
      } finally {
        await admin.disconnect().catch(() => {});
      }
      await new Promise((r) => setTimeout(r, 250));
    }
    await this.pause(2000);
    throw new EmbeddedKafkaError(
      `the embedded broker did not answer within ${timeoutMs} ms (${lastError}); last lines of ${this.logFile}:\n${this.tail()}`,
    );
  }

  private tail(lines = 30): string {
    try {
      return readFileSync(this.logFile!, 'utf8').trim().split('\n').slice(-lines).join('\n');
    } catch {
      return '(no log)';
    }
  }
}

function clusterId(): string {
  // A Kafka cluster id is a base64url-encoded 16-byte UUID.
  return Buffer.from(randomUUID().replace(/-/g, ''), 'hex').toString('base64url');
}
