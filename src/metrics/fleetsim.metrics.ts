import type { Server } from 'node:net';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { Injectable, type OnModuleDestroy } from '@nestjs/common';
import { Counter, Gauge, Histogram, type Metric, register } from 'prom-client';
import type { BreakerState } from '../producer/circuit.breaker.js';
import { DROP_REASONS, type DeliveryStats } from '../producer/delivery.stats.js';

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

export interface ProducerGauges {
  stats: DeliveryStats;
  bufferedBytes: number;
  breaker: BreakerState;
  partitions: number;
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

const BREAKER_VALUE: Record<BreakerState, number> = { closed: 0, 'half-open': 1, open: 2 };

/** Registers a metric, replacing one of the same name left by an earlier app in this process. */
function metric<T extends Metric>(name: string, create: () => T): T {
  register.removeSingleMetric(name);
  return create();
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
  private readonly loopDelay = monitorEventLoopDelay({ resolution: 10 });

  readonly sendLatency = metric(
    `${METRIC_PREFIX}send_latency_seconds`,
    () =>
      new Histogram({
        name: `${METRIC_PREFIX}send_latency_seconds`,
        help: 'Time from handing a batch to Kafka to its acknowledgement',
        buckets: [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      }),
  );

  readonly batchSize = metric(
    `${METRIC_PREFIX}batch_messages`,
    () =>
      new Histogram({
        name: `${METRIC_PREFIX}batch_messages`,
        help: 'Messages per acknowledged produce request',
        buckets: [1, 10, 50, 100, 250, 500, 1000, 2000, 5000],
      }),
  );

  readonly scheduleLag = metric(
    `${METRIC_PREFIX}schedule_lag_seconds`,
    () =>
      new Histogram({
        name: `${METRIC_PREFIX}schedule_lag_seconds`,
        help: 'How late readings are generated relative to their scheduled time',
        buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      }),
  );

  readonly sendErrors = metric(
    `${METRIC_PREFIX}send_errors_total`,
    () =>
      new Counter({
        name: `${METRIC_PREFIX}send_errors_total`,
        help: 'Failed produce requests, by whether the error was retriable',
        labelNames: ['retriable'] as const,
      }),
  );

  readonly serialization = metric(
    `${METRIC_PREFIX}serialization_seconds`,
    () =>
      new Histogram({
        name: `${METRIC_PREFIX}serialization_seconds`,
        help: `Time to serialize one reading (one reading in ${SERIALIZATION_SAMPLE_EVERY} is timed)`,
        buckets: [1e-6, 2.5e-6, 5e-6, 1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 5e-3],
      }),
  );

  readonly configChanges = metric(
    `${METRIC_PREFIX}config_changes_total`,
    () =>
      new Counter({
        name: `${METRIC_PREFIX}config_changes_total`,
        help: 'Configuration changes over REST: applied, rejected (4xx) or failed (5xx)',
        labelNames: ['result'] as const,
      }),
  );

  constructor() {
    for (const name of MISNAMED_DEFAULT_METRICS) register.removeSingleMetric(name);
    for (const result of CONFIG_CHANGE_RESULTS) this.configChanges.inc({ result }, 0);
    this.loopDelay.enable();
    const loopDelay = this.loopDelay;
    const producer = () => this.producer?.();
    const simulation = () => this.simulation?.();
    const books = (name: string, help: string, read: (p: ProducerGauges) => number) =>
      metric(
        `${METRIC_PREFIX}${name}`,
        () =>
          new Counter({
            name: `${METRIC_PREFIX}${name}`,
            help,
            collect() {
              const p = producer();
              this.reset();
              if (p) this.inc(read(p));
            },
          }),
      );
    books('messages_generated_total', 'Readings handed to the producer', (p) => p.stats.generated);
    books(
      'messages_acknowledged_total',
      'Messages acknowledged by Kafka',
      (p) => p.stats.acknowledged,
    );
    books(
      'messages_failed_total',
      'Messages that failed with a non-retriable error',
      (p) => p.stats.failed,
    );
    books(
      'messages_retried_total',
      'Messages sent again after a failed attempt',
      (p) => p.stats.retried,
    );
    books('batches_total', 'Produce requests acknowledged', (p) => p.stats.batches);
    books('bytes_produced_total', 'Key and value bytes acknowledged', (p) => p.stats.bytes);
    metric(
      `${METRIC_PREFIX}messages_dropped_total`,
      () =>
        new Counter({
          name: `${METRIC_PREFIX}messages_dropped_total`,
          help: 'Messages dropped, by reason',
          labelNames: ['reason'] as const,
          collect() {
            const p = producer();
            this.reset();
            for (const reason of DROP_REASONS) this.inc({ reason }, p?.stats.dropped[reason] ?? 0);
          },
        }),
    );
    const gauge = (name: string, help: string, read: () => number | undefined) =>
      metric(
        `${METRIC_PREFIX}${name}`,
        () =>
          new Gauge({
            name: `${METRIC_PREFIX}${name}`,
            help,
            collect() {
              this.set(read() ?? 0);
            },
          }),
      );
    gauge(
      'queue_depth_messages',
      'Messages queued in the producer',
      () => producer()?.stats.queued,
    );
    gauge(
      'in_flight_messages',
      'Messages in produce requests not yet answered',
      () => producer()?.stats.inFlight,
    );
    gauge(
      'buffer_bytes',
      'Bytes held by the producer (queued and in flight)',
      () => producer()?.bufferedBytes,
    );
    gauge('circuit_state', 'Producer circuit breaker: 0 closed, 1 half-open, 2 open', () => {
      const p = producer();
      return p ? BREAKER_VALUE[p.breaker] : 0;
    });
    gauge(
      'topic_partitions',
      'Partitions of the target topic as last read',
      () => producer()?.partitions,
    );
    gauge('http_connections', 'Open HTTP connections', () => this.httpConnections);
    metric(
      `${METRIC_PREFIX}event_loop_delay_p99_seconds`,
      () =>
        new Gauge({
          name: `${METRIC_PREFIX}event_loop_delay_p99_seconds`,
          help: '99th percentile of the event-loop delay since the previous scrape',
          collect() {
            // Before the first 10 ms sample the histogram holds nothing and reports 0.
            this.set(loopDelay.count ? loopDelay.percentile(99) / 1e9 : 0);
            loopDelay.reset();
          },
        }),
    );
    gauge('simulation_running', '1 while the scheduler produces readings', () =>
      simulation()?.running ? 1 : 0,
    );
    gauge('fleets', 'Fleets defined', () => simulation()?.fleets);
    gauge('devices', 'Devices across all fleets', () => simulation()?.devices);
    gauge(
      'target_rate_messages_per_second',
      'Messages per second the fleets are scheduled to emit',
      () => simulation()?.targetRate,
    );
    gauge(
      'schedule_behind_seconds',
      'How late the most overdue reading is now',
      () => (simulation()?.behindMs ?? 0) / 1000,
    );
    metric(
      `${METRIC_PREFIX}scenario_stage_info`,
      () =>
        new Gauge({
          name: `${METRIC_PREFIX}scenario_stage_info`,
          help: 'The running scenario and its stage (1); no series while none runs',
          labelNames: ['scenario', 'stage'] as const,
          collect() {
            // Only the active pair is exported, so the series count stays at most one.
            this.reset();
            const scenario = simulation()?.scenario;
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
