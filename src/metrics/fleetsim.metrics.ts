import type { Server } from 'node:net';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { Injectable, type OnModuleDestroy } from '@nestjs/common';
import { Counter, Gauge, Histogram, type Metric, register } from 'prom-client';
/** Every fleetsim metric starts with this. */
export const METRIC_PREFIX = 'fleetsim_';

export interface SimulationGauges {
  running: boolean;
  fleets: number;
  devices: number;
  targetRate: number;
  behindMs: number;
  scenario?: { name: string; stage: string } | null;
}

/** The producer's books as the metrics read them (the producer's DeliveryStats fits). */
export interface ProducerBooks {
  generated: number;
  acknowledged: number;
  /** Sent with acks=0 (never acknowledged). */
  sent: number;
  failed: number;
  /** In flight when the producer closed: fate unknown. */
  unknown: number;
  retried: number;
  /** Re-sent after a possibly written try where the broker cannot de-duplicate. */
  possibleDuplicates: number;
  batches: number;
  bytes: number;
  queued: number;
  inFlight: number;
  /** Dropped messages by reason. */
  dropped: Readonly<Record<string, number>>;
}

/** The circuit breaker's states, in the order fleetsim_circuit_state numbers them. */
export const CIRCUIT_STATES = ['closed', 'half-open', 'open'] as const;

export interface ProducerGauges {
  stats: ProducerBooks;
  bufferedBytes: number;
  breaker: (typeof CIRCUIT_STATES)[number];
  partitions: number;
  /** Consecutive sends refused for good (none acknowledged since). */
  consecutiveRefusals: number;
  /** True while readiness is down because every send is refused. */
  failing: boolean;
}

/** One reading in this many is timed for fleetsim_serialization_seconds (a power of two). */
export const SERIALIZATION_SAMPLE_EVERY = 64;

/**
 * prom-client's default gauges whose names end in _total, which Prometheus reserves for
 * counters (promtool check metrics refuses them). The per-type gauges without the suffix
 * (nodejs_active_handles and the like) stay, and sum() gives the same totals.
 */
const MISNAMED_DEFAULT_METRICS = [
  'nodejs_active_handles_total',
  'nodejs_active_requests_total',
  'nodejs_active_resources_total',
];

/** Outcomes of a configuration change over REST. */
export const CONFIG_CHANGE_RESULTS = ['applied', 'rejected', 'failed'] as const;

/**
 * Registers a metric named fleetsim_<name>, replacing one of the same name left by an earlier
 * app in this process.
 */
function metric<T extends Metric>(name: string, create: (fullName: string) => T): T {
  register.removeSingleMetric(`${METRIC_PREFIX}${name}`);
  return create(`${METRIC_PREFIX}${name}`);
}

/** Counters read from the producer's books at scrape time: name, help, which number. */
const BOOKS: ReadonlyArray<[name: string, help: string, read: (b: ProducerBooks) => number]> = [
  ['messages_generated_total', 'Readings handed to the producer', (b) => b.generated],
  ['messages_acknowledged_total', 'Messages acknowledged by Kafka', (b) => b.acknowledged],
  [
    'messages_sent_total',
    'Messages written with acks=0: sent, never acknowledged by Kafka',
    (b) => b.sent,
  ],
  [
    'messages_failed_total',
    'Messages refused with a non-retriable error or not delivered within producer.deliveryTimeoutMs',
    (b) => b.failed,
  ],
  [
    'messages_unknown_total',
    'Messages still in flight when the producer closed: they may or may not be in Kafka',
    (b) => b.unknown,
  ],
  ['messages_retried_total', 'Messages sent again after a failed attempt', (b) => b.retried],
  [
    'producer_possible_duplicates_total',
    'Messages re-sent after a try that may have been written, where the broker cannot de-duplicate (no idempotence, or a new producer id)',
    (b) => b.possibleDuplicates,
  ],
  ['batches_total', 'Produce requests acknowledged', (b) => b.batches],
  ['bytes_produced_total', 'Key and value bytes acknowledged', (b) => b.bytes],
];

type Sources = {
  producer?: ProducerGauges;
  simulation?: SimulationGauges;
  httpConnections: number;
};

/** Gauges set at scrape time: name, help, the value (0 when undefined). */
const GAUGES: ReadonlyArray<
  [name: string, help: string, read: (s: Sources) => number | undefined]
> = [
  ['queue_depth_messages', 'Messages queued in the producer', (s) => s.producer?.stats.queued],
  [
    'in_flight_messages',
    'Messages in produce requests not yet answered',
    (s) => s.producer?.stats.inFlight,
  ],
  [
    'buffer_bytes',
    'Bytes held by the producer (queued and in flight)',
    (s) => s.producer?.bufferedBytes,
  ],
  [
    'circuit_state',
    'Producer circuit breaker: 0 closed, 1 half-open, 2 open',
    (s) => (s.producer ? CIRCUIT_STATES.indexOf(s.producer.breaker) : 0),
  ],
  [
    'topic_partitions',
    'Partitions of the target topic as last read',
    (s) => s.producer?.partitions,
  ],
  [
    'producer_consecutive_refusals',
    'Consecutive sends whose records were all refused for good (0 once one is acknowledged)',
    (s) => s.producer?.consecutiveRefusals,
  ],
  [
    'producer_delivery_failing',
    '1 while every send is refused for good (readiness is down), else 0',
    (s) => (s.producer?.failing ? 1 : 0),
  ],
  ['http_connections', 'Open HTTP connections', (s) => s.httpConnections],
];

/** Gauges of the simulation, registered after the event-loop delay. */
const SIMULATION_GAUGES: ReadonlyArray<
  [name: string, help: string, read: (s: SimulationGauges | undefined) => number | undefined]
> = [
  ['simulation_running', '1 while the scheduler produces readings', (s) => (s?.running ? 1 : 0)],
  ['fleets', 'Fleets defined', (s) => s?.fleets],
  ['devices', 'Devices across all fleets', (s) => s?.devices],
  [
    'target_rate_messages_per_second',
    'Messages per second the fleets are scheduled to emit',
    (s) => s?.targetRate,
  ],
  [
    'schedule_behind_seconds',
    'How late the most overdue reading is now',
    (s) => (s?.behindMs ?? 0) / 1000,
  ],
];

/** How often Node samples the event-loop delay (`monitorEventLoopDelay`'s resolution), in ms. */
export const LOOP_DELAY_RESOLUTION_MS = 10;

/**
 * The p-th percentile of the event-loop delay in ms: how late Node's sampling timer fired.
 * Node records the whole interval between two samples (the resolution plus the delay; an
 * idle process shows ~10 ms at a 10 ms resolution), so the resolution is taken off.
 */
export function loopDelayMs(
  h: { percentile(p: number): number },
  p: number,
  resolutionMs = LOOP_DELAY_RESOLUTION_MS,
): number {
  return Math.max(0, h.percentile(p) / 1e6 - resolutionMs);
}

/**
 * fleetsim's Prometheus metrics. Hot paths report per batch or per tick; counters that the
 * producer's books already hold are read from them at scrape time, so the books and the
 * metrics can never disagree.
 */
@Injectable()
export class FleetsimMetrics implements OnModuleDestroy {
  private producer?: () => ProducerGauges;
  private simulation?: () => SimulationGauges;
  private httpConnections = 0;
  /** Event-loop delay, sampled by Node every 10 ms; reset at every scrape. */
  private readonly loopDelay = monitorEventLoopDelay({ resolution: LOOP_DELAY_RESOLUTION_MS });

  readonly sendLatency = metric(
    'send_latency_seconds',
    (name) =>
      new Histogram({
        name,
        help: 'Time from handing a batch to Kafka to its acknowledgement',
        buckets: [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      }),
  );

  readonly batchSize = metric(
    'batch_messages',
    (name) =>
      new Histogram({
        name,
        help: 'Messages per acknowledged produce request',
        buckets: [1, 10, 50, 100, 250, 500, 1000, 2000, 5000],
      }),
  );

  readonly scheduleLag = metric(
    'schedule_lag_seconds',
    (name) =>
      new Histogram({
        name,
        help: "How late readings are generated relative to their scheduled time: per scheduler tick and fleet, the tick's oldest reading",
        buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      }),
  );

  readonly sendErrors = metric(
    'send_errors_total',
    (name) =>
      new Counter({
        name,
        help: 'Failed produce requests, by whether the error was retriable',
        labelNames: ['retriable'] as const,
      }),
  );

  readonly serialization = metric(
    'serialization_seconds',
    (name) =>
      new Histogram({
        name,
        help: `Time to serialize one reading (one reading in ${SERIALIZATION_SAMPLE_EVERY} is timed)`,
        buckets: [1e-6, 2.5e-6, 5e-6, 1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 5e-3],
      }),
  );

  readonly configChanges = metric(
    'config_changes_total',
    (name) =>
      new Counter({
        name,
        help: 'Configuration changes over REST: applied, rejected (4xx) or failed (5xx)',
        labelNames: ['result'] as const,
      }),
  );

  constructor() {
    for (const name of MISNAMED_DEFAULT_METRICS) register.removeSingleMetric(name);
    for (const result of CONFIG_CHANGE_RESULTS) this.configChanges.inc({ result }, 0);
    this.loopDelay.enable();
    const loopDelay = this.loopDelay;
    const sources = (): Sources => ({
      producer: this.producer?.(),
      simulation: this.simulation?.(),
      httpConnections: this.httpConnections,
    });
    for (const [name, help, read] of BOOKS) {
      metric(
        name,
        (fullName) =>
          new Counter({
            name: fullName,
            help,
            collect() {
              const p = sources().producer;
              this.reset();
              if (p) this.inc(read(p.stats));
            },
          }),
      );
    }
    metric(
      'messages_dropped_total',
      (name) =>
        new Counter({
          name,
          help: 'Messages dropped, by reason',
          labelNames: ['reason'] as const,
          collect() {
            const p = sources().producer;
            this.reset();
            for (const [reason, n] of Object.entries(p?.stats.dropped ?? {}))
              this.inc({ reason }, n);
          },
        }),
    );
    const gauge = (name: string, help: string, read: () => number | undefined) =>
      metric(
        name,
        (fullName) =>
          new Gauge({
            name: fullName,
            help,
            collect() {
              this.set(read() ?? 0);
            },
          }),
      );
    for (const [name, help, read] of GAUGES) gauge(name, help, () => read(sources()));
    metric(
      'event_loop_delay_p99_seconds',
      (name) =>
        new Gauge({
          name,
          help: '99th percentile of the event-loop delay since the previous scrape',
          collect() {
            // Before the first 10 ms sample the histogram holds nothing and reports 0.
            this.set(loopDelay.count ? loopDelayMs(loopDelay, 99) / 1000 : 0);
            loopDelay.reset();
          },
        }),
    );
    for (const [name, help, read] of SIMULATION_GAUGES) {
      gauge(name, help, () => read(this.simulation?.()));
    }
    metric(
      'scenario_stage_info',
      (name) =>
        new Gauge({
          name,
          help: 'The running scenario and its stage (1); no series while none runs',
          labelNames: ['scenario', 'stage'] as const,
          collect() {
            // Only the active pair is exported, so the series count stays at most one.
            this.reset();
            const scenario = sources().simulation?.scenario;
            if (scenario) this.set({ scenario: scenario.name, stage: scenario.stage }, 1);
          },
        }),
    );
  }

  /** Counts the server's open connections for fleetsim_http_connections. */
  watchHttpServer(server: Server): void {
    server.on('connection', (socket) => {
      this.httpConnections++;
      socket.once('close', () => this.httpConnections--);
    });
  }

  onModuleDestroy(): void {
    this.loopDelay.disable();
  }

  watchProducer(read: () => ProducerGauges): void {
    this.producer = read;
  }

  watchSimulation(read: () => SimulationGauges): void {
    this.simulation = read;
  }
}
