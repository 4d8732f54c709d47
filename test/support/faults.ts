/**
 * The fault-injection harness: fleetsim (the real server process) produces at a steady rate
 * into a 3-broker embedded Kafka while a fault is injected; afterwards a consumer reads the
 * whole topic and checks what was acknowledged against what is there. Used by
 * `npm run faults`, `npm run soak` and the quick case in test/integration/.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import kafkajs from 'kafkajs';
import type { EmbeddedKafkaCluster, EmbeddedKafkaNode } from '../../src/kafka/embedded-kafka.js';
import { registerCompressionCodecs } from '../../src/producer/compression.codecs.js';
import { http, waitFor } from './app.js';
import { type ServerProcess, spawnServer, terminate } from './server.js';

/** What GET /api/v1/producer reports (the fields the harness reads). */
export interface ProducerBooks {
  generated: number;
  acknowledged: number;
  sent: number;
  failed: number;
  dropped: number;
  queued: number;
  inFlight: number;
  unknown: number;
  possibleDuplicates: number;
  retried: number;
  balanced: boolean;
  circuit: string;
  connected: boolean;
  partitions: number;
  bufferMemory: number;
}

/** What a consumer found in the topic. */
export interface TopicAudit {
  /** Messages read, duplicates included. */
  messages: number;
  /** Distinct (deviceId, seq) pairs. */
  distinct: number;
  /** Copies beyond the first of a (deviceId, seq). */
  duplicated: number;
  /** Messages with a lower seq than an earlier message of the same device in the same partition. */
  reordered: number;
  /** Missing seqs between a device's lowest and highest seq in the topic. */
  gaps: number;
  devices: number;
}

export interface FaultResult {
  fault: string;
  idempotent: boolean;
  /** Acknowledged by fleetsim's books (for a SIGKILL of fleetsim: the last figure read before). */
  acknowledged: number;
  /** Acknowledged but not in the topic. */
  lost: number;
  duplicated: number;
  reordered: number;
  /** From the broker's return to full rate, ms; null if it did not come back in time. */
  recoveryMs?: number | null;
  /** Time below 90 % of the target rate from the fault to the end of the observation, ms. */
  stallMs?: number | null;
  /** The books balance in the API and the metrics agree with them (undefined: not readable). */
  balanced?: boolean;
  audit: TopicAudit;
  books?: ProducerBooks;
  /** Highest resident set size of fleetsim seen (sampled every 250 ms), bytes. */
  peakRssBytes?: number;
  /** Highest one-second ack rate seen. */
  peakRate?: number;
  /**
   * Highest RSS before the fault, from the fault to the return, and after the return, bytes
   * (undefined for a fault that ends fleetsim).
   */
  peakRssByPhase?: { before: number; fault: number; after: number };
  /** Ack rate sustained over the steady window before the fault, msg/s. */
  steadyRate?: number;
  /** The harness itself failed (the figures are then meaningless). */
  error?: string;
  notes: string[];
}

/** The context a fault acts in. */
export interface FaultContext {
  cluster: EmbeddedKafkaCluster;
  topic: string;
  server: ServerProcess;
  monitor: RateMonitor;
  admin: kafkajs.Admin;
  note(text: string): void;
}

/**
 * A fault: `inject` does the damage and resolves when the cluster is back (the moment the
 * recovery time is measured from), or with `{ server: 'gone' }` when fleetsim is no longer
 * running and the harness should audit what it left.
 */
export interface Fault {
  name: string;
  inject(ctx: FaultContext): Promise<FaultOutcome>;
}

export type FaultOutcome =
  | { returnedAt: number; server?: undefined; ackBase?: number }
  | { server: 'gone'; acknowledged: number; books?: ProducerBooks; balanced?: boolean };

export interface HarnessOptions {
  /** Target messages per second (devices × 10, one reading per device every 100 ms). */
  rate: number;
  idempotent: boolean;
  partitions: number;
  /** Seconds of steady production before the fault and after recovery. */
  steadySeconds: number;
  /** Longest wait for full rate after the broker's return, ms. */
  recoveryTimeoutMs: number;
  /** More environment for fleetsim. */
  env?: Record<string, string>;
  log: (message: string) => void;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Sample {
  t: number;
  acknowledged: number;
  generated: number;
  circuit: string;
  rssBytes?: number;
}

/** Polls the producer's books every 250 ms and answers questions about the ack rate. */
export class RateMonitor {
  readonly samples: Sample[] = [];
  private timer?: NodeJS.Timeout;
  private polling = false;
  last?: ProducerBooks;

  constructor(
    private readonly url: string,
    private readonly pid?: number,
  ) {}

  start(): void {
    this.timer = setInterval(() => void this.poll(), 250);
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private async poll(): Promise<void> {
    if (this.polling) return;
    this.polling = true;
    try {
      const res = await http(this.url, 'GET', '/api/v1/producer');
      if (res.status === 200) {
        const b = res.body as ProducerBooks;
        this.last = b;
        this.samples.push({
          t: Date.now(),
          acknowledged: b.acknowledged,
          generated: b.generated,
          circuit: b.circuit,
          rssBytes: this.pid ? rssOf(this.pid) : undefined,
        });
      }
    } catch {
      // the server is busy or gone; the next poll tries again
    } finally {
      this.polling = false;
    }
  }

  /** Acknowledged per second over the window ending at `at`. */
  rateAt(at: number, windowMs = 1000): number | undefined {
    const end = this.samples.filter((s) => s.t <= at).at(-1);
    if (!end) return undefined;
    const start = this.samples.filter((s) => s.t <= end.t - windowMs).at(-1);
    if (!start) return undefined;
    return ((end.acknowledged - start.acknowledged) * 1000) / (end.t - start.t);
  }

  /**
   * Polls until the ack rate over the last second is at least `fraction` of `target`, and
   * returns when that window began being full rate, measured from `since` (0 if already).
   */
  async fullRateAfter(
    since: number,
    target: number,
    timeoutMs: number,
    fraction = 0.9,
  ): Promise<number | null> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const s = this.samples.at(-1);
      if (s && s.t >= since + 250) {
        const rate = this.rateAt(s.t);
        if (rate !== undefined && rate >= fraction * target) return Math.max(0, s.t - 1000 - since);
      }
      if (Date.now() > deadline) return null;
      await sleep(100);
    }
  }

  /** Time between `from` and `to` during which the one-second ack rate was below `fraction` of `target`. */
  belowRateMs(from: number, to: number, target: number, fraction = 0.9): number {
    let below = 0;
    let prev: Sample | undefined;
    for (const s of this.samples) {
      if (s.t < from || s.t > to) continue;
      const rate = this.rateAt(s.t);
      if (prev && rate !== undefined && rate < fraction * target) below += s.t - prev.t;
      prev = s;
    }
    return below;
  }

  /** Highest one-second ack rate seen so far. */
  peakRate(): number {
    let peak = 0;
    for (const s of this.samples) peak = Math.max(peak, this.rateAt(s.t) ?? 0);
    return peak;
  }

  peakRss(from = -Infinity, to = Infinity): number {
    let peak = 0;
    for (const s of this.samples) {
      if (s.t >= from && s.t <= to) peak = Math.max(peak, s.rssBytes ?? 0);
    }
    return peak;
  }

  /** Acknowledged per second between `from` and `to` (the samples nearest inside). */
  rateBetween(from: number, to: number): number | undefined {
    const first = this.samples.find((s) => s.t >= from);
    const last = this.samples.filter((s) => s.t <= to).at(-1);
    if (!first || !last || last.t <= first.t) return undefined;
    return ((last.acknowledged - first.acknowledged) * 1000) / (last.t - first.t);
  }
}

/** Resident set size of a process, from /proc (Linux); undefined elsewhere or once it exited. */
export function rssOf(pid: number): number | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = /VmRSS:\s+(\d+) kB/.exec(status)?.[1];
    return kb ? Number(kb) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

/** Reads fleetsim's books from GET /api/v1/producer. */
export async function producerBooks(url: string): Promise<ProducerBooks> {
  const res = await http(url, 'GET', '/api/v1/producer');
  if (res.status !== 200) throw new Error(`GET /api/v1/producer: ${res.status}`);
  return res.body as ProducerBooks;
}

/** The books as /metrics reports them. */
export async function metricBooks(url: string): Promise<Record<string, number>> {
  const res = await fetch(`${url}/metrics`);
  const text = await res.text();
  const sum = (name: string) =>
    text
      .split('\n')
      .filter((l) => l.startsWith(`fleetsim_${name}`) && !l.startsWith('#'))
      .reduce((n, l) => n + Number(l.split(' ').at(-1)), 0);
  return {
    generated: sum('messages_generated_total'),
    acknowledged: sum('messages_acknowledged_total'),
    sent: sum('messages_sent_total'),
    failed: sum('messages_failed_total'),
    unknown: sum('messages_unknown_total'),
    dropped: sum('messages_dropped_total'),
    queued: sum('queue_depth_messages'),
    inFlight: sum('in_flight_messages'),
  };
}

/** The books balance in the API, and /metrics says the same. */
export function booksBalance(b: ProducerBooks, m: Record<string, number>): string[] {
  const problems: string[] = [];
  if (!b.balanced) problems.push('the API says the books do not balance');
  if (
    b.acknowledged + b.sent + b.failed + b.dropped + b.queued + b.inFlight + b.unknown !==
    b.generated
  ) {
    problems.push(
      `generated ${b.generated} ≠ acknowledged + sent + failed + dropped + queued + in flight + unknown`,
    );
  }
  for (const k of [
    'generated',
    'acknowledged',
    'sent',
    'failed',
    'dropped',
    'queued',
    'inFlight',
    'unknown',
  ] as const) {
    if (m[k] !== b[k]) problems.push(`/metrics ${k} ${m[k]} ≠ API ${b[k]}`);
  }
  return problems;
}

const SEQ = Buffer.from('"seq":');

function seqOf(value: Buffer): number {
  const at = value.indexOf(SEQ);
  if (at < 0) throw new Error(`no seq in ${value.toString().slice(0, 200)}`);
  let n = 0;
  for (let i = at + SEQ.length; i < value.length; i++) {
    const c = value[i];
    if (c < 48 || c > 57) break;
    n = n * 10 + (c - 48);
  }
  return n;
}

/**
 * Reads the whole topic up to its current end offsets with a fresh consumer group and checks
 * duplicates, order per device within each partition, and gaps in each device's seqs.
 */
export async function auditTopic(brokers: string[], topic: string): Promise<TopicAudit> {
  // fleetsim writes lz4 here; kafkajs ships only gzip (the server registers the other codecs
  // only when it uses the kafkajs engine).
  registerCompressionCodecs();
  const kafka = new kafkajs.Kafka({
    clientId: 'fleetsim-fault-audit',
    brokers,
    logLevel: kafkajs.logLevel.NOTHING,
    retry: { retries: 10 },
  });
  const admin = kafka.admin();
  await admin.connect();
  // Right after a restart, metadata may name a leader that still answers "election in
  // progress" (it is recovering its log): ask again until it answers.
  const offsets = await waitFor(
    `the end offsets of ${topic}`,
    () => admin.fetchTopicOffsets(topic).catch(() => undefined),
    120_000,
  );
  await admin.disconnect();
  const end = new Map(offsets.map((o) => [o.partition, Number(o.high)]));
  const remaining = new Map(offsets.map((o) => [o.partition, Number(o.high) - Number(o.low)]));
  const total = [...remaining.values()].reduce((a, b) => a + b, 0);
  // Per device, how often each seq was read (a byte each: compact enough for a soak's 30 M).
  const seen = new Map<string, Uint8Array>();
  const order = new Map<string, number>(); // `${partition}/${device}` → highest seq so far
  const next = new Map<number, number>(); // partition → next offset to count
  const audit: TopicAudit = {
    messages: 0,
    distinct: 0,
    duplicated: 0,
    reordered: 0,
    gaps: 0,
    devices: 0,
  };
  if (total > 0) {
    const consumer = kafka.consumer({
      groupId: `fault-audit-${randomUUID()}`,
      maxWaitTimeInMs: 200,
      maxBytes: 50 * 1024 * 1024,
      maxBytesPerPartition: 10 * 1024 * 1024,
    });
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    let lastProgress = Date.now();
    await new Promise<void>((resolve, reject) => {
      const stall = setInterval(() => {
        if (Date.now() - lastProgress > 120_000) {
          clearInterval(stall);
          reject(new Error(`audit of ${topic} stalled at ${audit.messages} of ${total} messages`));
        }
      }, 1000);
      consumer
        .run({
          eachBatchAutoResolve: true,
          eachBatch: async ({ batch }) => {
            const stop = end.get(batch.partition) ?? 0;
            let count = 0;
            for (const m of batch.messages) {
              const offset = Number(m.offset);
              if (offset >= stop) continue;
              // A rejoin of the audit's own group re-delivers from the last commit: each offset
              // counts once, so that only copies at different offsets count as duplicates.
              if (offset < (next.get(batch.partition) ?? 0)) continue;
              next.set(batch.partition, offset + 1);
              count++;
              const device = m.key!.toString();
              const seq = seqOf(m.value!);
              let counts = seen.get(device);
              if (!counts || counts.length <= seq) {
                const grown = new Uint8Array(Math.max(1024, (seq + 1) * 2));
                if (counts) grown.set(counts);
                seen.set(device, (counts = grown));
              }
              const dup = counts[seq] > 0;
              if (dup) audit.duplicated++;
              if (counts[seq] < 255) counts[seq]++;
              const slot = `${batch.partition}/${device}`;
              const highest = order.get(slot);
              if (highest !== undefined && seq < highest && !dup) audit.reordered++;
              if (highest === undefined || seq > highest) order.set(slot, seq);
            }
            audit.messages += count;
            if (count > 0) lastProgress = Date.now();
            remaining.set(batch.partition, (remaining.get(batch.partition) ?? 0) - count);
            if ([...remaining.values()].every((n) => n <= 0)) {
              clearInterval(stall);
              resolve();
            }
          },
        })
        .catch(reject);
    });
    await consumer.disconnect();
  }
  for (const counts of seen.values()) {
    let lo = -1;
    let hi = -1;
    let present = 0;
    for (let seq = 0; seq < counts.length; seq++) {
      if (counts[seq] === 0) continue;
      if (lo < 0) lo = seq;
      hi = seq;
      present++;
    }
    audit.gaps += hi - lo + 1 - present;
    audit.distinct += present;
  }
  audit.devices = seen.size;
  return audit;
}

/** Runs faults one after another against one cluster, each with a fresh topic and fleetsim. */
export class FaultHarness {
  constructor(
    private readonly cluster: EmbeddedKafkaCluster,
    private readonly options: HarnessOptions,
  ) {}

  private kafka(): kafkajs.Kafka {
    return this.cluster.client();
  }

  /** Brings every node back and waits for the whole cluster (after a fault left some down). */
  async heal(): Promise<void> {
    const { cluster } = this;
    for (const n of [cluster.controller!, ...cluster.nodes]) n.resume();
    await cluster.controller!.start();
    await Promise.all(cluster.nodes.map((n) => n.start()));
    await cluster.waitForBrokers(cluster.nodes.length);
  }

  async run(fault: Fault): Promise<FaultResult> {
    const { options, cluster } = this;
    const log = options.log;
    const topic = `faults-${randomUUID().slice(0, 8)}`;
    const notes: string[] = [];
    await this.heal();
    const admin = this.kafka().admin();
    await admin.connect();
    // Not kafkajs's waitForLeaders (on by default): it gives up when the broker it asks does
    // not know the new topic yet; waitForInSync polls until every partition is led and in sync.
    await admin.createTopics({
      topics: [{ topic, numPartitions: options.partitions, replicationFactor: 3 }],
      waitForLeaders: false,
    });
    await cluster.waitForInSync(topic);

    const server = await spawnServer({
      KAFKA_BROKERS: cluster.brokers.join(','),
      KAFKA_TOPIC: topic,
      KAFKA_IDEMPOTENT: String(options.idempotent),
      KAFKA_COMPRESSION: 'lz4',
      FLEETSIM_AUTOSTART: 'true',
      LOG_LEVEL: 'info',
      ...options.env,
    });
    const monitor = new RateMonitor(server.url, server.child.pid);
    monitor.start();
    try {
      const devices = Math.max(1, Math.round(options.rate / 10));
      const created = await http(server.url, 'POST', '/api/v1/fleets', {
        name: 'faults',
        deviceCount: devices,
        intervalMs: 100,
        seed: 7,
      });
      if (created.status !== 201) throw new Error(`POST /api/v1/fleets: ${created.status}`);
      const steadyFrom = Date.now();
      const reached = await monitor.fullRateAfter(steadyFrom, options.rate, 90_000);
      if (reached === null) {
        notes.push(
          `never reached ${options.rate} msg/s before the fault (peak ${Math.round(monitor.peakRate())})`,
        );
      }
      const windowFrom = Date.now();
      await sleep(options.steadySeconds * 1000);
      // "Full rate" is the target, or what fleetsim sustained before the fault when the machine
      // could not reach the target: recovery means getting back to where it was.
      let fullRate = options.rate;
      const steadyRate = monitor.rateBetween(windowFrom, Date.now());
      if (reached === null && steadyRate !== undefined) {
        fullRate = steadyRate;
        notes.push(
          `full rate taken as the ${Math.round(fullRate)} msg/s sustained before the fault`,
        );
      }
      log(
        `${fault.name}: injecting (steady at ~${Math.round(monitor.rateAt(Date.now()) ?? 0)} msg/s)`,
      );
      const faultAt = Date.now();
      const ctx: FaultContext = {
        cluster,
        topic,
        server,
        monitor,
        admin,
        note: (t) => notes.push(t),
      };
      const outcome = await fault.inject(ctx);

      if (outcome.server === 'gone') {
        monitor.stop();
        await this.heal();
        await cluster.waitForInSync(topic);
        const audit = await auditTopic(cluster.brokers, topic);
        await admin.deleteTopics({ topics: [topic] }).catch(() => {});
        return this.result(fault, outcome.acknowledged, audit, notes, {
          books: outcome.books,
          balanced: outcome.balanced,
          peakRssBytes: monitor.peakRss(),
          peakRate: monitor.peakRate(),
        });
      }

      const returnedAt = outcome.returnedAt;
      const recoveryMs = await monitor.fullRateAfter(
        returnedAt,
        fullRate,
        options.recoveryTimeoutMs,
      );
      log(
        `${fault.name}: back ${recoveryMs === null ? 'never (timed out)' : `${recoveryMs} ms after the return`}`,
      );
      await sleep(options.steadySeconds * 1000);
      const stallMs = monitor.belowRateMs(faultAt, Date.now(), fullRate);

      const stopped = await http(server.url, 'POST', '/api/v1/simulation/stop');
      if (stopped.status !== 200) notes.push(`POST /api/v1/simulation/stop: ${stopped.status}`);
      const drained = await waitFor(
        'the producer to drain',
        async () => {
          const b = await producerBooks(server.url);
          return b.queued + b.inFlight === 0 ? b : undefined;
        },
        120_000,
      ).catch((err: Error) => {
        notes.push(`not drained: ${err.message}`);
        return undefined;
      });
      const books = drained ?? (await producerBooks(server.url));
      const problems = booksBalance(books, await metricBooks(server.url));
      notes.push(...problems);
      monitor.stop();
      const exit = await terminate(server, 90_000);
      if (exit.code !== 0) {
        // Why: its last error lines (or, without any, its last lines).
        const errors = server.lines.filter((l) => l.level === 'error' || l.level === 'fatal');
        const last = (errors.length ? errors : server.lines)
          .slice(-3)
          .map((l) => l.message)
          .concat(server.other.slice(-3));
        notes.push(`fleetsim exited with ${exit.code ?? exit.signal}: ${last.join(' | ')}`);
      }
      // Before the audit, which may take minutes (or stall on a loaded machine).
      log(
        `${fault.name}: peak RSS ${Math.round(monitor.peakRss() / 2 ** 20)} MB ` +
          `(before the fault ${Math.round(monitor.peakRss(-Infinity, faultAt) / 2 ** 20)}, ` +
          `during ${Math.round(monitor.peakRss(faultAt, returnedAt) / 2 ** 20)}, ` +
          `after ${Math.round(monitor.peakRss(returnedAt) / 2 ** 20)}); ` +
          `steady ${Math.round(steadyRate ?? 0)} msg/s before it; books ${JSON.stringify(books)}; ` +
          `notes: ${notes.join('; ') || 'none'}`,
      );
      const audit = await auditTopic(cluster.brokers, topic);
      await admin.deleteTopics({ topics: [topic] }).catch(() => {});
      const base = outcome.ackBase ?? 0;
      return this.result(fault, books.acknowledged - base, audit, notes, {
        books,
        balanced: problems.length === 0,
        recoveryMs,
        stallMs,
        peakRssBytes: monitor.peakRss(),
        peakRate: monitor.peakRate(),
        peakRssByPhase: {
          before: monitor.peakRss(-Infinity, faultAt),
          fault: monitor.peakRss(faultAt, returnedAt),
          after: monitor.peakRss(returnedAt),
        },
        steadyRate,
      });
    } finally {
      monitor.stop();
      await server.kill();
      await admin.disconnect().catch(() => {});
    }
  }

  private result(
    fault: Fault,
    acknowledged: number,
    audit: TopicAudit,
    notes: string[],
    extra: Partial<FaultResult>,
  ): FaultResult {
    if (audit.gaps > 0) notes.push(`${audit.gaps} seqs missing inside devices' ranges`);
    if (audit.distinct > acknowledged) {
      notes.push(`${audit.distinct - acknowledged} in the topic beyond the acknowledged count`);
    }
    return {
      fault: fault.name,
      idempotent: this.options.idempotent,
      acknowledged,
      lost: Math.max(0, acknowledged - audit.distinct),
      duplicated: audit.duplicated,
      reordered: audit.reordered,
      audit,
      notes,
      ...extra,
    };
  }
}

async function leaderNode(ctx: FaultContext): Promise<EmbeddedKafkaNode> {
  const leader = await ctx.cluster.leaderOf(ctx.topic, 0);
  if (!leader) throw new Error(`${ctx.topic} partition 0 has no leader`);
  return leader;
}

/** Polls until every partition of the topic has a leader other than `not`. */
async function newLeaders(ctx: FaultContext, not: number): Promise<void> {
  await waitFor(
    'new partition leaders',
    async () => {
      const parts = await ctx.cluster.partitions(ctx.topic).catch(() => undefined);
      return parts?.every((p) => p.leader >= 0 && p.leader !== not) ? true : undefined;
    },
    60_000,
  );
}

async function fullOutage(ctx: FaultContext): Promise<void> {
  await Promise.all(ctx.cluster.nodes.map((n) => n.kill()));
}

async function restartBrokers(ctx: FaultContext): Promise<number> {
  await Promise.all(ctx.cluster.nodes.map((n) => n.start()));
  await ctx.cluster.waitForBrokers(ctx.cluster.nodes.length);
  return Date.now();
}

/** SIGKILL the broker leading partition 0 (it leads about a third of them), then restart it. */
export const killLeader: Fault = {
  name: 'SIGKILL leader broker, restart',
  async inject(ctx) {
    const leader = await leaderNode(ctx);
    const leads = (await ctx.cluster.partitions(ctx.topic)).filter(
      (p) => p.leader === leader.nodeId,
    ).length;
    ctx.note(`killed broker ${leader.nodeId}, leader of ${leads} partitions`);
    await leader.kill();
    await newLeaders(ctx, leader.nodeId);
    await leader.start();
    return { returnedAt: Date.now() };
  },
};

/** SIGSTOP the broker leading partition 0 for 10 s, then SIGCONT. */
export const pauseBroker: Fault = {
  name: 'SIGSTOP broker 10 s, SIGCONT',
  async inject(ctx) {
    const leader = await leaderNode(ctx);
    leader.suspend();
    await sleep(10_000); // the length of the fault, not a readiness wait
    leader.resume();
    return { returnedAt: Date.now() };
  },
};

/** SIGKILL every broker, leave them down 30 s, start them again. */
export const killAll: Fault = {
  name: 'SIGKILL all brokers 30 s, restart',
  async inject(ctx) {
    await fullOutage(ctx);
    await sleep(30_000); // the length of the outage
    return { returnedAt: await restartBrokers(ctx) };
  },
};

/** Doubles the topic's partitions while fleetsim produces. */
export const addPartitions: Fault = {
  name: 'add partitions',
  async inject(ctx) {
    const before = (await ctx.cluster.partitions(ctx.topic)).length;
    await ctx.admin.createPartitions({
      topicPartitions: [{ topic: ctx.topic, count: before * 2 }],
    });
    const at = Date.now();
    const seen = await waitFor(
      'fleetsim to see the new partitions',
      () => (ctx.monitor.last?.partitions === before * 2 ? Date.now() : undefined),
      60_000,
    ).catch(() => undefined);
    ctx.note(
      seen
        ? `fleetsim routed to ${before * 2} partitions ${seen - at} ms after they were added`
        : `fleetsim still reports ${ctx.monitor.last?.partitions} partitions 60 s after ${before * 2} were made`,
    );
    return { returnedAt: at };
  },
};

/**
 * Deletes the topic and creates it again; what was acknowledged before the deletion went with
 * it, so only the acknowledgements after it are counted.
 */
export const recreateTopic: Fault = {
  name: 'delete + re-create topic',
  async inject(ctx) {
    const parts = (await ctx.cluster.partitions(ctx.topic)).length;
    await ctx.admin.deleteTopics({ topics: [ctx.topic], timeout: 30_000 });
    await waitFor(
      'the topic to be gone',
      async () => ((await ctx.admin.listTopics()).includes(ctx.topic) ? undefined : true),
      60_000,
    ).catch(() => ctx.note('the topic came back before it was seen gone (auto-created?)'));
    const ackBase = (await producerBooks(ctx.server.url)).acknowledged;
    const created = await ctx.admin
      .createTopics({
        topics: [{ topic: ctx.topic, numPartitions: parts, replicationFactor: 3 }],
        waitForLeaders: false,
      })
      .catch((err: Error) => {
        ctx.note(`re-create: ${err.message}`);
        return false;
      });
    if (!created) ctx.note('the topic already existed again when re-created (auto-created)');
    await ctx.cluster.waitForInSync(ctx.topic);
    ctx.note(`${ackBase} acknowledged before the topic was re-created are not counted`);
    return { returnedAt: Date.now(), ackBase };
  },
};

/** SIGTERM fleetsim while every broker is down, then audit what it says it acknowledged. */
export const sigtermDuringOutage: Fault = {
  name: 'SIGTERM fleetsim in full outage',
  async inject(ctx) {
    await fullOutage(ctx);
    await waitFor('the circuit to open', () =>
      ctx.monitor.last?.circuit === 'open' ? true : undefined,
    ).catch(() => ctx.note('the circuit did not open within 30 s'));
    const exit = await terminate(ctx.server, 120_000);
    const closed = ctx.server.lines.find((l) => l.message.startsWith('producer closed'));
    const totals = closed?.totals as
      | {
          generated: number;
          acknowledged: number;
          sent?: number;
          failed: number;
          dropped: number;
          queued: number;
          inFlight: number;
          unknown?: number;
        }
      | undefined;
    ctx.note(`fleetsim exited ${exit.code ?? exit.signal}`);
    if (!totals) {
      ctx.note('no "producer closed" line with totals');
      return { server: 'gone', acknowledged: ctx.monitor.last?.acknowledged ?? 0 };
    }
    const unknown = totals.unknown ?? 0;
    const sent = totals.sent ?? 0;
    // Issue 10: the last line must account for every message as acknowledged (or sent, with
    // acks=0), failed, dropped or unknown (in flight at exit); nothing may be left counted as
    // queued or in flight.
    const balanced =
      totals.queued === 0 &&
      totals.inFlight === 0 &&
      totals.acknowledged + sent + totals.failed + totals.dropped + unknown === totals.generated;
    if (totals.queued > 0) ctx.note(`${totals.queued} still counted as queued after close()`);
    if (totals.inFlight > 0)
      ctx.note(`${totals.inFlight} still counted as in flight after close()`);
    ctx.note(
      `final line: generated ${totals.generated}, acknowledged ${totals.acknowledged}, failed ${totals.failed}, dropped ${totals.dropped}, unknown (in flight at exit) ${unknown}`,
    );
    return { server: 'gone', acknowledged: totals.acknowledged, balanced };
  },
};

/** SIGKILL fleetsim: nothing is flushed; the last acknowledged count read is a lower bound. */
export const killFleetsim: Fault = {
  name: 'SIGKILL fleetsim',
  async inject(ctx) {
    const books = await producerBooks(ctx.server.url);
    ctx.server.child.kill('SIGKILL');
    await ctx.server.exited;
    ctx.note('acknowledged = the last count read before SIGKILL (a lower bound)');
    return { server: 'gone', acknowledged: books.acknowledged, books, balanced: books.balanced };
  },
};

export const ALL_FAULTS: Fault[] = [
  killLeader,
  pauseBroker,
  killAll,
  addPartitions,
  recreateTopic,
  sigtermDuringOutage,
  killFleetsim,
];

const seconds = (ms: number | null | undefined) =>
  ms === undefined ? 'n/a' : ms === null ? 'not back' : `${(ms / 1000).toFixed(1)} s`;

/** The fault table, as printed by `npm run faults`. */
export function faultTable(results: FaultResult[]): string {
  const header = [
    'fault',
    'idempotent',
    'acknowledged',
    'lost',
    'duplicated',
    'reordered',
    'recovery',
    'below rate',
    'books',
  ];
  const rows = results.map((r) => [
    r.fault,
    r.idempotent ? 'yes' : 'no',
    String(r.acknowledged),
    String(r.lost),
    String(r.duplicated),
    String(r.reordered),
    seconds(r.recoveryMs),
    seconds(r.stallMs),
    r.error
      ? 'HARNESS ERROR'
      : r.balanced === undefined
        ? 'n/a'
        : r.balanced
          ? 'balance'
          : 'DO NOT balance',
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) =>
    `| ${cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join(' | ')} |`;
  return [
    line(header),
    `|${widths.map((w, i) => (i === 0 ? `:${'-'.repeat(w + 1)}` : `${'-'.repeat(w + 1)}:`)).join('|')}|`,
    ...rows.map(line),
  ].join('\n');
}
