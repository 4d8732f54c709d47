import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
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
  /**
   * Also open a SASL_SSL listener (test CA and certificate made with openssl, a PLAIN user in
   * JAAS, SCRAM-SHA-256 and SCRAM-SHA-512 users made by kafka-storage); see `saslSsl`.
   */
  saslSsl?: boolean;
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
    if (got) return remember(got);
  }
  // The kernel may hand out a port again once it is closed: a broker's listener and its
  // controller listener once got the same one. A port this process handed out before is
  // skipped (its broker may not be listening yet).
  for (let attempt = 0; attempt < 50; attempt++) {
    const got = await tryListen(0);
    if (got && !portsHandedOut.has(got)) return remember(got);
  }
  throw new EmbeddedKafkaError('no free TCP port for the embedded broker');
}

/** Ports freePort() returned in this process. */
const portsHandedOut = new Set<number>();

function remember(port: number): number {
  portsHandedOut.add(port);
  return port;
}

/** One SASL user of the embedded SASL_SSL listener; `mechanism` is spelled as kafkajs spells it. */
export interface SaslUser {
  mechanism: 'plain' | 'scram-sha-256' | 'scram-sha-512';
  username: string;
  password: string;
}

/** The optional SASL_SSL listener of an embedded Kafka, standing in for a secured cluster. */
export interface SaslSslListener {
  /** host:port of the listener, one per broker. */
  brokers: string[];
  /** PEM file of the test CA that signed the brokers' certificate: trust it to connect. */
  caPemPath: string;
  /** The same CA certificate, PEM text. */
  caPem: string;
  /** Host name the brokers' certificate is issued to (it also holds IP 127.0.0.1). */
  serverName: string;
  /** One user per mechanism: PLAIN from the broker's JAAS config, SCRAM ones from kafka-storage. */
  users: { plain: SaslUser; scramSha256: SaslUser; scramSha512: SaslUser };
}

/** A certificate and its unencrypted PKCS#8 private key, both PEM files. */
export interface PemPair {
  certPath: string;
  keyPath: string;
}

function openssl(args: string[], cwd: string): void {
  const res = spawnSync('openssl', args, { cwd, encoding: 'utf8' });
  if (res.error || res.status !== 0) {
    throw new EmbeddedKafkaError(
      `the embedded Kafka's SASL_SSL listener needs openssl to make test certificates; ` +
        `\`openssl ${args[0]}\` failed: ${res.error?.message ?? res.stderr}`,
    );
  }
}

/** A throw-away certificate authority (2 days), for tests that need TLS. */
export function createTestCa(dir: string, name = 'fleetsim test CA'): PemPair {
  mkdirSync(dir, { recursive: true });
  const pair = { certPath: join(dir, 'ca.pem'), keyPath: join(dir, 'ca.key') };
  openssl(
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      pair.keyPath,
      '-out',
      pair.certPath,
      '-days',
      '2',
      '-subj',
      `/CN=${name}`,
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
    ],
    dir,
  );
  return pair;
}

/** A server certificate for `localhost` and 127.0.0.1, signed by `ca`. */
export function issueServerCertificate(ca: PemPair, dir: string, name = 'broker'): PemPair {
  const pair = { certPath: join(dir, `${name}.pem`), keyPath: join(dir, `${name}.key`) };
  const csr = join(dir, `${name}.csr`);
  const ext = join(dir, `${name}.ext`);
  writeFileSync(
    ext,
    'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' +
      'keyUsage=critical,digitalSignature,keyEncipherment\nbasicConstraints=CA:FALSE\n',
  );
  openssl(
    [
      'req',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      pair.keyPath,
      '-out',
      csr,
      '-subj',
      '/CN=localhost',
    ],
    dir,
  );
  openssl(
    [
      'x509',
      '-req',
      '-in',
      csr,
      '-CA',
      ca.certPath,
      '-CAkey',
      ca.keyPath,
      '-CAcreateserial',
      '-out',
      pair.certPath,
      '-days',
      '2',
      '-extfile',
      ext,
    ],
    dir,
  );
  return pair;
}

function saslSslMaterial(dir: string): {
  listener: Omit<SaslSslListener, 'brokers'>;
  keystore: string;
} {
  const tls = join(dir, 'tls');
  const ca = createTestCa(tls);
  const server = issueServerCertificate(ca, tls);
  // Kafka's PEM key store: the private key, then the certificate chain.
  const keystore = join(tls, 'broker-keystore.pem');
  writeFileSync(
    keystore,
    [server.keyPath, server.certPath, ca.certPath].map((f) => readFileSync(f, 'utf8')).join(''),
  );
  const secret = () => randomBytes(12).toString('hex');
  return {
    keystore,
    listener: {
      caPemPath: ca.certPath,
      caPem: readFileSync(ca.certPath, 'utf8'),
      serverName: 'localhost',
      users: {
        plain: { mechanism: 'plain', username: 'fleetsim-plain', password: secret() },
        scramSha256: { mechanism: 'scram-sha-256', username: 'fleetsim-256', password: secret() },
        scramSha512: { mechanism: 'scram-sha-512', username: 'fleetsim-512', password: secret() },
      },
    },
  };
}

function saslSslProperties(keystore: string, users: SaslSslListener['users']): string[] {
  const prefix = 'listener.name.sasl_ssl';
  return [
    `${prefix}.ssl.keystore.type=PEM`,
    `${prefix}.ssl.keystore.location=${keystore}`,
    `${prefix}.sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512`,
    `${prefix}.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule ` +
      `required user_${users.plain.username}="${users.plain.password}";`,
    `${prefix}.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;`,
    `${prefix}.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;`,
  ];
}

/** `--add-scram` arguments of `kafka-storage format`, which writes SCRAM users into the metadata log. */
function scramFormatArgs(users: SaslSslListener['users'] | undefined): string[] {
  if (!users) return [];
  return [users.scramSha256, users.scramSha512].flatMap((u) => [
    '--add-scram',
    `${u.mechanism.toUpperCase()}=[name=${u.username},password=${u.password}]`,
  ]);
}

async function formatStorage(
  classpath: string,
  clusterId: string,
  properties: string,
  extra: string[],
): Promise<void> {
  const child = spawn(
    'java',
    [
      '-Xmx128m',
      '-XX:TieredStopAtLevel=1',
      '-cp',
      classpath,
      'kafka.tools.StorageTool',
      ...storageFormatArgs(clusterId, properties),
      ...extra,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  if (code !== 0) {
    throw new EmbeddedKafkaError(`formatting the embedded broker's storage failed:\n${output}`);
  }
}

const LOG4J = [
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
].join('\n');

/** Topic defaults; the controller resolves some of them, the brokers others, so both get them. */
function topicDefaults(partitions: number, replicas: number, minIsr: number): string[] {
  return [
    `num.partitions=${partitions}`,
    `default.replication.factor=${replicas}`,
    `min.insync.replicas=${minIsr}`,
    `offsets.topic.replication.factor=${replicas}`,
    'offsets.topic.num.partitions=6',
    `transaction.state.log.replication.factor=${replicas}`,
    `transaction.state.log.min.isr=${minIsr}`,
    `share.coordinator.state.topic.replication.factor=${replicas}`,
    `share.coordinator.state.topic.min.isr=${minIsr}`,
    'group.initial.rebalance.delay.ms=0',
    'auto.create.topics.enable=true',
    'log.retention.hours=2',
    'log.segment.bytes=134217728',
  ];
}

/** What a node runs as: a broker, a KRaft controller, or both in one process. */
export type KafkaNodeRole = 'broker' | 'controller' | 'combined';

interface NodeLaunch {
  classpath: string;
  heap: string;
  startTimeoutMs: number;
  /** Alive brokers the node's own metadata must list before it counts as ready. */
  minBrokers: number;
}

/**
 * One Kafka JVM of an embedded Kafka, with the handles fault tests need: SIGKILL, SIGTERM,
 * SIGSTOP/SIGCONT and start again on the same ports and storage.
 */
export class EmbeddedKafkaNode {
  private child?: ChildProcess;
  private exit?: Promise<void>;
  private stopped = false;

  constructor(
    /** KRaft node.id. */
    readonly nodeId: number,
    readonly role: KafkaNodeRole,
    /** PLAINTEXT client port (0 for a controller-only node). */
    readonly port: number,
    /** SASL_SSL port, when the listener is on. */
    readonly saslSslPort: number | undefined,
    /** The node's folder: server.properties, storage and node.log. */
    readonly dir: string,
    private readonly launchWith: NodeLaunch,
  ) {}

  /** host:port of the PLAINTEXT listener. */
  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  get pid(): number | undefined {
    return this.running ? this.child?.pid : undefined;
  }

  /** The JVM exists (it may be suspended by SIGSTOP). */
  get running(): boolean {
    return (
      this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null
    );
  }

  /** Stopped with SIGSTOP and not yet continued. */
  get suspended(): boolean {
    return this.running && this.stopped;
  }

  get logFile(): string {
    return join(this.dir, 'node.log');
  }

  get propertiesFile(): string {
    return join(this.dir, 'server.properties');
  }

  /**
   * Starts the JVM on its storage (formatted before the first start) and, for a broker,
   * resolves once the broker answers on its own listener and lists itself as alive.
   */
  async start(): Promise<void> {
    if (this.running) return;
    const out = createWriteStream(this.logFile, { flags: 'a' });
    const controllerOnly = this.role === 'controller';
    const child = spawn(
      'java',
      [
        `-Xmx${this.launchWith.heap}`,
        controllerOnly ? '-Xms64m' : '-Xms128m',
        ...(controllerOnly
          ? ['-XX:+UseSerialGC', '-XX:TieredStopAtLevel=1']
          : ['-XX:+UseG1GC', '-XX:MaxGCPauseMillis=20']),
        '-Djava.awt.headless=true',
        `-Dlog4j2.configurationFile=${join(this.dir, 'log4j2.properties')}`,
        '-cp',
        this.launchWith.classpath,
        'kafka.Kafka',
        this.propertiesFile,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    child.stdout!.pipe(out);
    child.stderr!.pipe(out);
    this.child = child;
    this.stopped = false;
    this.exit = new Promise((resolve) => child.once('exit', () => resolve()));
    const killOnExit = () => child.kill('SIGKILL');
    process.once('exit', killOnExit);
    void this.exit.then(() => process.off('exit', killOnExit));
    if (!controllerOnly) await this.waitUntilReady();
  }

  /** SIGKILL: the JVM dies at once, nothing is flushed or handed over. */
  async kill(): Promise<void> {
    if (!this.running) return;
    this.child!.kill('SIGKILL');
    await this.exit;
  }

  /** SIGTERM (a controlled shutdown), then SIGKILL if it is not gone after `graceMs`. */
  async terminate(graceMs = 20_000): Promise<void> {
    if (!this.running) return;
    const child = this.child!;
    if (this.stopped) this.resume();
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    await this.exit;
    clearTimeout(timer);
  }

  /** SIGSTOP: the JVM freezes with its sockets open, like a long GC pause or a hung host. */
  suspend(): void {
    if (!this.running || this.stopped) return;
    this.child!.kill('SIGSTOP');
    this.stopped = true;
  }

  /** SIGCONT after `suspend()`. */
  resume(): void {
    if (!this.running || !this.stopped) return;
    this.child!.kill('SIGCONT');
    this.stopped = false;
  }

  /** Stops the node (SIGKILL when `hard`, else SIGTERM) and starts it again. */
  async restart(hard = false): Promise<void> {
    if (hard) await this.kill();
    else await this.terminate();
    await this.start();
  }

  /** The last lines of the node's log. */
  tail(lines = 30): string {
    try {
      return readFileSync(this.logFile, 'utf8').trim().split('\n').slice(-lines).join('\n');
    } catch {
      return '(no log)';
    }
  }

  private async waitUntilReady(): Promise<void> {
    const timeoutMs = this.launchWith.startTimeoutMs;
    const deadline = Date.now() + timeoutMs;
    const kafka = new kafkajs.Kafka({
      clientId: 'fleetsim-embedded-probe',
      brokers: [this.address],
      logLevel: kafkajs.logLevel.NOTHING,
      retry: { retries: 0 },
      connectionTimeout: 1000,
      requestTimeout: 5000,
    });
    let lastError = '';
    while (Date.now() < deadline) {
      if (!this.running) {
        throw new EmbeddedKafkaError(
          `embedded Kafka node ${this.nodeId} exited during start-up; last lines of ${this.logFile}:\n${this.tail()}`,
        );
      }
      const admin = kafka.admin();
      try {
        await admin.connect();
        const cluster = await admin.describeCluster();
        if (
          cluster.brokers.some((b) => b.nodeId === this.nodeId) &&
          cluster.brokers.length >= this.launchWith.minBrokers
        ) {
          return;
        }
        lastError = `${cluster.brokers.length} brokers alive`;
      } catch (err) {
        lastError = (err as Error).message;
      } finally {
        await admin.disconnect().catch(() => {});
      }
      await new Promise((r) => setTimeout(r, 250));
    }
    await this.kill();
    throw new EmbeddedKafkaError(
      `embedded Kafka node ${this.nodeId} did not answer within ${timeoutMs} ms (${lastError}); last lines of ${this.logFile}:\n${this.tail()}`,
    );
  }
}

function listenerProperties(
  port: number,
  saslSslPort: number | undefined,
  controllerPort: number | undefined,
): string[] {
  const listeners = [`PLAINTEXT://127.0.0.1:${port}`];
  const advertised = [`PLAINTEXT://127.0.0.1:${port}`];
  const map = ['CONTROLLER:PLAINTEXT', 'PLAINTEXT:PLAINTEXT'];
  if (controllerPort) listeners.push(`CONTROLLER://127.0.0.1:${controllerPort}`);
  if (saslSslPort) {
    listeners.push(`SASL_SSL://127.0.0.1:${saslSslPort}`);
    advertised.push(`SASL_SSL://127.0.0.1:${saslSslPort}`);
    map.push('SASL_SSL:SASL_SSL');
  }
  return [
    `listeners=${listeners.join(',')}`,
    `advertised.listeners=${advertised.join(',')}`,
    'controller.listener.names=CONTROLLER',
    'inter.broker.listener.name=PLAINTEXT',
    `listener.security.protocol.map=${map.join(',')}`,
  ];
}

/**
 * A single-node Apache Kafka (KRaft, combined broker and controller) run from the jars that
 * kafka/pom.xml pins. Storage is formatted fresh in a temporary folder on every start and
 * removed on stop. `npm start` and `npm test` use it.
 */
export class EmbeddedKafka {
  private dataDir?: string;
  private nodeHandle?: EmbeddedKafkaNode;
  port = 0;
  /** The SASL_SSL listener, once started with `saslSsl: true`. */
  saslSsl?: SaslSslListener;

  constructor(private readonly options: EmbeddedKafkaOptions = {}) {}

  get brokers(): string[] {
    return [`127.0.0.1:${this.port}`];
  }

  /** The broker's JVM (SIGKILL, SIGSTOP, … for fault tests); set once started. */
  get node(): EmbeddedKafkaNode | undefined {
    return this.nodeHandle;
  }

  /** Process id of the broker's JVM while it runs (for CPU accounting). */
  get pid(): number | undefined {
    return this.nodeHandle?.pid;
  }

  get running(): boolean {
    return this.nodeHandle?.running ?? false;
  }

  /** The broker's own log file, useful when it misbehaves. */
  get logFile(): string | undefined {
    return this.nodeHandle?.logFile;
  }

  async start(): Promise<string[]> {
    const log = this.options.log ?? (() => {});
    checkJava();
    const classpath = join(provisionKafkaJars(log), '*');
    if (!this.dataDir || !this.nodeHandle) {
      const dir = mkdtempSync(join(tmpdir(), 'fleetsim-kafka-'));
      this.dataDir = dir;
      this.port = await freePort(this.options.port ?? 0);
      const controllerPort = await freePort(0);
      const saslSslPort = this.options.saslSsl ? await freePort(0) : undefined;
      const tls = this.options.saslSsl ? saslSslMaterial(dir) : undefined;
      const node = new EmbeddedKafkaNode(1, 'combined', this.port, saslSslPort, dir, {
        classpath,
        heap: this.options.heap ?? '768m',
        startTimeoutMs: this.options.startTimeoutMs ?? 90_000,
        minBrokers: 1,
      });
      writeFileSync(
        node.propertiesFile,
        [
          'process.roles=broker,controller',
          'node.id=1',
          `controller.quorum.voters=1@127.0.0.1:${controllerPort}`,
          ...listenerProperties(this.port, saslSslPort, controllerPort),
          `log.dirs=${join(dir, 'logs')}`,
          ...topicDefaults(this.options.partitions ?? 6, 1, 1),
          ...(tls ? saslSslProperties(tls.keystore, tls.listener.users) : []),
          '',
        ].join('\n'),
      );
      writeFileSync(join(dir, 'log4j2.properties'), LOG4J);
      await formatStorage(
        classpath,
        newClusterId(),
        node.propertiesFile,
        scramFormatArgs(tls?.listener.users),
      );
      this.nodeHandle = node;
      if (tls && saslSslPort) {
        this.saslSsl = { ...tls.listener, brokers: [`127.0.0.1:${saslSslPort}`] };
      }
    }
    await this.nodeHandle.start();
    log(`embedded Apache Kafka ${pinnedKafkaVersion()} is up on ${this.brokers[0]}`);
    return this.brokers;
  }

  /** Stops the broker (SIGTERM, then SIGKILL after a grace period) and keeps its storage. */
  async pause(graceMs = 20_000): Promise<void> {
    await this.nodeHandle?.terminate(graceMs);
  }

  /** Stops the broker and removes its storage. */
  async stop(): Promise<void> {
    await this.pause();
    if (this.dataDir) rmSync(this.dataDir, { recursive: true, force: true });
    this.dataDir = undefined;
    this.nodeHandle = undefined;
    this.saslSsl = undefined;
  }
}

export interface EmbeddedKafkaClusterOptions {
  /** Brokers (each its own JVM) beside one KRaft controller; default 3. */
  brokers?: number;
  /** JVM heap of each broker; default 384m, so that the cluster fits beside the tests. */
  heap?: string;
  /** JVM heap of the controller; default 192m. */
  controllerHeap?: string;
  /** Default partitions of new topics. */
  partitions?: number;
  /** Default replication factor of new topics; default min(3, brokers). */
  replicationFactor?: number;
  /** min.insync.replicas; default 2 (1 with a single broker). */
  minInsyncReplicas?: number;
  /** Also open a SASL_SSL listener on every broker. */
  saslSsl?: boolean;
  log?: (message: string) => void;
  /** Most time a node may take to answer after it is started, in ms; default 180 s. */
  startTimeoutMs?: number;
}

/** Leader and replicas of one partition, as the cluster reports them. */
export interface PartitionState {
  partition: number;
  /** Node id of the leader, -1 when the partition has none. */
  leader: number;
  replicas: number[];
  isr: number[];
}

/**
 * A multi-broker Apache Kafka for fault tests: one KRaft controller and N brokers (3 by
 * default), each its own JVM with a small heap, replication factor 3 and
 * min.insync.replicas=2. The controller has its own process so that killing brokers never
 * costs a controller election; every broker keeps its ports and storage across restarts.
 */
export class EmbeddedKafkaCluster {
  private dataDir?: string;
  /** The KRaft controller (node id 0); set once started. */
  controller?: EmbeddedKafkaNode;
  /** The brokers, node ids 1..N; set once started. */
  nodes: EmbeddedKafkaNode[] = [];
  saslSsl?: SaslSslListener;

  constructor(private readonly options: EmbeddedKafkaClusterOptions = {}) {}

  /** Bootstrap list: every broker's PLAINTEXT listener. */
  get brokers(): string[] {
    return this.nodes.map((n) => n.address);
  }

  get replicationFactor(): number {
    const count = this.options.brokers ?? 3;
    return this.options.replicationFactor ?? Math.min(3, count);
  }

  /** The broker with this node id. */
  node(nodeId: number): EmbeddedKafkaNode {
    const node = this.nodes.find((n) => n.nodeId === nodeId);
    if (!node) throw new Error(`no broker with node id ${nodeId}`);
    return node;
  }

  async start(): Promise<string[]> {
    const log = this.options.log ?? (() => {});
    if (this.dataDir) {
      await Promise.all([this.controller!.start(), ...this.nodes.map((n) => n.start())]);
      return this.brokers;
    }
    checkJava();
    const classpath = join(provisionKafkaJars(log), '*');
    const count = this.options.brokers ?? 3;
    const replicas = this.replicationFactor;
    const minIsr = this.options.minInsyncReplicas ?? Math.min(2, replicas);
    const partitions = this.options.partitions ?? 6;
    const startTimeoutMs = this.options.startTimeoutMs ?? 180_000;
    const root = mkdtempSync(join(tmpdir(), 'fleetsim-kafka-cluster-'));
    this.dataDir = root;
    const tls = this.options.saslSsl ? saslSslMaterial(root) : undefined;
    const controllerPort = await freePort(0);
    const voters = `controller.quorum.voters=0@127.0.0.1:${controllerPort}`;
    const defaults = topicDefaults(partitions, replicas, minIsr);

    const nodeDir = (id: number) => {
      const dir = join(root, `node-${id}`);
      mkdirSync(dir);
      writeFileSync(join(dir, 'log4j2.properties'), LOG4J);
      return dir;
    };
    const controller = new EmbeddedKafkaNode(0, 'controller', 0, undefined, nodeDir(0), {
      classpath,
      heap: this.options.controllerHeap ?? '192m',
      startTimeoutMs,
      minBrokers: 0,
    });
    writeFileSync(
      controller.propertiesFile,
      [
        'process.roles=controller',
        'node.id=0',
        voters,
        `listeners=CONTROLLER://127.0.0.1:${controllerPort}`,
        'controller.listener.names=CONTROLLER',
        'listener.security.protocol.map=CONTROLLER:PLAINTEXT',
        `log.dirs=${join(controller.dir, 'logs')}`,
        ...defaults,
        '',
      ].join('\n'),
    );
    const nodes: EmbeddedKafkaNode[] = [];
    for (let id = 1; id <= count; id++) {
      const port = await freePort(0);
      const saslSslPort = tls ? await freePort(0) : undefined;
      const node = new EmbeddedKafkaNode(id, 'broker', port, saslSslPort, nodeDir(id), {
        classpath,
        heap: this.options.heap ?? '384m',
        startTimeoutMs,
        minBrokers: 1,
      });
      writeFileSync(
        node.propertiesFile,
        [
          'process.roles=broker',
          `node.id=${id}`,
          voters,
          ...listenerProperties(port, saslSslPort, undefined),
          `log.dirs=${join(node.dir, 'logs')}`,
          ...defaults,
          'num.network.threads=2',
          'num.io.threads=4',
          ...(tls ? saslSslProperties(tls.keystore, tls.listener.users) : []),
          '',
        ].join('\n'),
      );
      nodes.push(node);
    }
    const clusterId = newClusterId();
    await Promise.all(
      [controller, ...nodes].map((n) =>
        formatStorage(classpath, clusterId, n.propertiesFile, scramFormatArgs(tls?.listener.users)),
      ),
    );
    this.controller = controller;
    this.nodes = nodes;
    if (tls) {
      this.saslSsl = {
        ...tls.listener,
        brokers: nodes.map((n) => `127.0.0.1:${n.saslSslPort}`),
      };
    }
    try {
      await controller.start();
      await Promise.all(nodes.map((n) => n.start()));
      await this.waitForBrokers(count, startTimeoutMs);
    } catch (err) {
      await this.stop();
      throw err;
    }
    log(
      `embedded Apache Kafka ${pinnedKafkaVersion()} cluster is up: ${count} brokers on ` +
        `${this.brokers.join(',')}, controller on 127.0.0.1:${controllerPort}`,
    );
    return this.brokers;
  }

  /** Stops every node (SIGTERM) and removes the storage. */
  async stop(): Promise<void> {
    await Promise.all(this.nodes.map((n) => n.terminate()));
    await this.controller?.terminate();
    if (this.dataDir) rmSync(this.dataDir, { recursive: true, force: true });
    this.dataDir = undefined;
    this.controller = undefined;
    this.nodes = [];
    this.saslSsl = undefined;
  }

  /** A kafkajs client on the brokers that run and are not suspended. */
  client(): kafkajs.Kafka {
    const live = this.nodes.filter((n) => n.running && !n.suspended);
    return new kafkajs.Kafka({
      clientId: 'fleetsim-embedded-admin',
      brokers: (live.length ? live : this.nodes).map((n) => n.address),
      logLevel: kafkajs.logLevel.NOTHING,
      retry: { retries: 2 },
      connectionTimeout: 1000,
      requestTimeout: 5000,
    });
  }

  /** Leader, replicas and in-sync replicas of every partition of the topic. */
  async partitions(topic: string): Promise<PartitionState[]> {
    const admin = this.client().admin();
    await admin.connect();
    try {
      const meta = await admin.fetchTopicMetadata({ topics: [topic] });
      return meta.topics[0].partitions
        .map((p) => ({
          partition: p.partitionId,
          leader: p.leader,
          replicas: p.replicas,
          isr: p.isr,
        }))
        .sort((a, b) => a.partition - b.partition);
    } finally {
      await admin.disconnect().catch(() => {});
    }
  }

  /** The broker leading the partition, or undefined when it has no leader. */
  async leaderOf(topic: string, partition = 0): Promise<EmbeddedKafkaNode | undefined> {
    const state = (await this.partitions(topic)).find((p) => p.partition === partition);
    if (!state) throw new Error(`${topic} has no partition ${partition}`);
    return this.nodes.find((n) => n.nodeId === state.leader);
  }

  /** Polls until every partition of the topic has a leader and all its replicas in sync. */
  async waitForInSync(topic: string, timeoutMs = 120_000): Promise<PartitionState[]> {
    const deadline = Date.now() + timeoutMs;
    let last: string;
    for (;;) {
      try {
        const parts = await this.partitions(topic);
        if (
          parts.length > 0 &&
          parts.every((p) => p.leader >= 0 && p.isr.length === p.replicas.length)
        ) {
          return parts;
        }
        last = JSON.stringify(parts);
      } catch (err) {
        last = (err as Error).message;
      }
      if (Date.now() > deadline) {
        throw new EmbeddedKafkaError(`${topic} not fully in sync after ${timeoutMs} ms: ${last}`);
      }
      await new Promise((r) => setTimeout(r, 250));
    }
  }

  /** Polls until `count` brokers are registered and unfenced. */
  async waitForBrokers(count = this.nodes.length, timeoutMs = 120_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let last: string;
    for (;;) {
      const admin = this.client().admin();
      try {
        await admin.connect();
        const cluster = await admin.describeCluster();
        if (cluster.brokers.length >= count) return;
        last = `${cluster.brokers.length} of ${count} brokers alive`;
      } catch (err) {
        last = (err as Error).message;
      } finally {
        await admin.disconnect().catch(() => {});
      }
      if (Date.now() > deadline) {
        throw new EmbeddedKafkaError(
          `the embedded cluster is not whole after ${timeoutMs} ms: ${last}`,
        );
      }
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}

/**
 * A new Kafka cluster id, made the way Kafka's own `Uuid.randomUuid()` (and so
 * `kafka-storage random-uuid`) makes one: a random 16-byte UUID in unpadded base64url,
 * never the all-zero id and never starting with `-`, which command-line parsers read as an
 * option (about one id in 64 would otherwise). `uuid` is injectable for tests.
 */
export function newClusterId(uuid: () => string = randomUUID): string {
  for (;;) {
    const bytes = Buffer.from(uuid().replace(/-/g, ''), 'hex');
    const id = bytes.toString('base64url');
    if (bytes.length === 16 && !id.startsWith('-') && bytes.some((b) => b !== 0)) return id;
  }
}

/**
 * Arguments of `kafka-storage format`. The id is passed as `--cluster-id=<id>` so that no id
 * can be mistaken for an option, whatever it starts with.
 */
export function storageFormatArgs(clusterId: string, serverProperties: string): string[] {
  return ['format', `--cluster-id=${clusterId}`, '-c', serverProperties];
}
