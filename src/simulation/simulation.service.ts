import {
  type BeforeApplicationShutdown,
  Inject,
  Injectable,
  Logger,
  type OnApplicationBootstrap,
  type OnModuleInit,
} from '@nestjs/common';
import { ConfigService } from '../config/config.service.js';
import type { FleetsimConfig } from '../config/fleetsim.config.js';
import { KafkaTarget } from '../kafka/kafka-target.js';
import { FleetsimMetrics } from '../metrics/fleetsim.metrics.js';
import { CLOCK, type Clock } from '../model/clock.js';
import type { Device, Fleet } from '../model/fleet.js';
import { ProducerService } from '../producer/producer.service.js';
import { ActiveScenario } from './active.scenario.js';
import { FleetRegistry } from './fleet.registry.js';
import type { GenerationParams } from './reading.generator.js';
import {
  type ParamOverrides,
  type PipelineSettings,
  ReadingPipeline,
  type ReadingGate,
} from './reading.pipeline.js';
import { Scheduler, type TickResult } from './scheduler.js';
import { SchemaRegistryService } from './schema-registry.service.js';

export type { ParamOverrides, ReadingGate };

/** The cluster as GET /api/v1/simulation shows it (cluster mode). */
export interface ClusterStatus {
  name: string;
  member: string;
  partitions: number;
  members: Array<{ member: string; partitions: number[]; rate: number; at: number }>;
}

/** How often the rate line is logged. */
const RATE_LOG_MS = 10_000;

/**
 * Runs the scheduler over the fleets and turns each due reading into a Kafka message:
 * generate → serialize → producer. Holds the schedule when the producer says so (block).
 */
@Injectable()
export class SimulationService
  implements OnModuleInit, OnApplicationBootstrap, BeforeApplicationShutdown
{
  private readonly logger = new Logger('Simulation');
  readonly scheduler: Scheduler;
  /** The hot path: generate → serialize → producer. */
  private readonly pipeline: ReadingPipeline;
  private lastTick: TickResult = { emitted: 0, held: false, behindMs: 0, cut: false };
  private rateTimer?: NodeJS.Timeout;
  private lastRate = { at: Date.now(), generated: 0, acknowledged: 0 };
  /** Reports the cluster (members, partitions, rates) in cluster mode, set by the cluster service. */
  clusterStatus?: () => ClusterStatus;
  /**
   * Cluster mode: shares a start or stop with every process (through the control topic) and
   * resolves once it is applied here; set by the cluster service.
   */
  shareRunning?: (running: boolean) => Promise<void>;
  /** The last start or stop shared in the cluster (undefined: none; autoStart decides). */
  private wanted?: boolean;

  constructor(
    private readonly config: ConfigService,
    private readonly fleets: FleetRegistry,
    private readonly producer: ProducerService,
    private readonly target: KafkaTarget,
    metrics: FleetsimMetrics,
    private readonly scenario: ActiveScenario,
    @Inject(CLOCK) clock: Clock,
    private readonly schemas: SchemaRegistryService,
  ) {
    this.pipeline = new ReadingPipeline(producer, metrics, pipelineSettings(config.config));
    this.scheduler = new Scheduler(clock, this.pipeline.sink, {
      tickMs: config.config.simulation.tickMs,
      lag: metrics.scheduleLag,
    });
    config.onUpdated(({ current }) => {
      this.scheduler.setTickMs(current.simulation.tickMs);
      this.pipeline.configure(
        pipelineSettings(current, this.schemas.framing(current)),
        this.fleets.all(),
      );
    });
    metrics.watchSimulation(() => {
      const scenario = this.scenario.status();
      return {
        running: this.scheduler.running,
        fleets: this.fleets.size,
        devices: this.fleets.deviceCount,
        targetRate: this.fleets.targetRate,
        behindMs: this.scheduler.running ? this.scheduler.behind(Date.now()) : 0,
        scenario: scenario && { name: scenario.name, stage: scenario.stage },
      };
    });
  }

  /** kafka.schemaRegistry: registers the schema before any value is written (boot fails if it cannot). */
  async onModuleInit(): Promise<void> {
    await this.schemas.ready();
    const config = this.config.config;
    this.pipeline.configure(
      pipelineSettings(config, this.schemas.framing(config)),
      this.fleets.all(),
    );
  }

  onApplicationBootstrap(): void {
    if (this.config.config.simulation.autoStart && this.target.connect && this.wanted !== false) {
      this.start();
    }
  }

  /** REST: starts or stops here, or in every process (cluster mode). */
  async request(running: boolean): Promise<void> {
    if (this.shareRunning) return this.shareRunning(running);
    if (running) this.start();
    else this.stop();
  }

  /** Applies a start or stop shared through the cluster's control topic. */
  applyRunning(running: boolean): void {
    this.wanted = running;
    if (running) this.start();
    else this.stop();
  }

  get running(): boolean {
    return this.scheduler.running;
  }

  start(): void {
    if (this.scheduler.running) return;
    this.scheduler.start((tick) => (this.lastTick = tick));
    this.lastRate = { at: Date.now(), ...this.counts() };
    this.rateTimer = setInterval(() => this.logRate(), RATE_LOG_MS);
    this.rateTimer.unref();
    this.logger.log('simulation started');
  }

  stop(): void {
    if (!this.scheduler.running) return;
    this.scheduler.stop();
    clearInterval(this.rateTimer);
    this.logger.log('simulation stopped; queued messages are still being sent');
  }

  attach(fleet: Fleet): void {
    this.fleets.add(fleet);
    this.scheduler.add(fleet);
    this.pipeline.recompute(this.fleets.all());
  }

  detach(fleetId: string): void {
    this.scheduler.remove(fleetId);
    this.fleets.delete(fleetId);
    this.pipeline.forget(fleetId);
  }

  resized(fleet: Fleet): void {
    this.scheduler.resized(fleet);
  }

  retimed(fleet: Fleet, oldIntervalMs: number, oldAnchorMs?: number): void {
    this.scheduler.retimed(fleet, oldIntervalMs, oldAnchorMs);
  }

  /** Cluster mode: which due readings this process emits (see ReadingGate). */
  setGate(gate: ReadingGate | undefined): void {
    this.pipeline.gate = gate;
  }

  /** Generates and offers one reading now, outside the schedule (a handover's catch-up). */
  emit(fleet: Fleet, device: Device, scheduledAt: number): void {
    this.pipeline.emit(fleet, device, scheduledAt);
  }

  /** Replaces the scenario overrides; they apply from the next reading. */
  setOverrides(overrides: ParamOverrides[]): void {
    this.pipeline.setOverrides(overrides, this.fleets.all());
  }

  /** The topic of a fleet's readings (kafka.topic, or its fleet topic under a template). */
  topicOf(fleetId: string): string | undefined {
    return this.pipeline.topicOf(fleetId);
  }

  /** Generation settings in force for a fleet. */
  paramsFor(fleetId: string): GenerationParams {
    return this.pipeline.paramsFor(fleetId);
  }

  private counts() {
    const s = this.producer.stats();
    return { generated: s.generated, acknowledged: s.acknowledged };
  }

  private logRate(): void {
    const now = Date.now();
    const c = this.counts();
    const secs = (now - this.lastRate.at) / 1000;
    const gen = (c.generated - this.lastRate.generated) / secs;
    const ack = (c.acknowledged - this.lastRate.acknowledged) / secs;
    this.lastRate = { at: now, ...c };
    const s = this.producer.stats();
    this.logger.log(
      `rate ${gen.toFixed(0)} msg/s generated, ${ack.toFixed(0)} msg/s acknowledged ` +
        `(target ${this.fleets.targetRate.toFixed(0)}/s, ${this.fleets.deviceCount} devices in ${this.fleets.size} fleets); ` +
        `queued ${s.queued}, failed ${s.failed}, dropped ${s.droppedTotal}, behind ${this.lastTick.behindMs.toFixed(0)} ms`,
    );
  }

  status() {
    const s = this.producer.stats();
    return {
      state: this.scheduler.running ? ('running' as const) : ('stopped' as const),
      fleets: this.fleets.size,
      devices: this.fleets.deviceCount,
      targetRate: Math.round(this.fleets.targetRate * 100) / 100,
      behindMs: this.scheduler.running ? Math.round(this.scheduler.behind(Date.now())) : 0,
      produced: s.generated,
      acknowledged: s.acknowledged,
      failed: s.failed,
      dropped: s.droppedTotal,
      queued: s.queued,
      scenario: this.scenario.status(),
      params: this.pipeline.baseParams,
      ...(this.clusterStatus ? { cluster: this.clusterStatus() } : {}),
    };
  }

  beforeApplicationShutdown(): void {
    this.stop();
  }
}

/** What the reading pipeline takes from the configuration. */
function pipelineSettings(config: FleetsimConfig, framing?: Buffer): PipelineSettings {
  const { dataVariation, trendEnabled, trendStrength, anomalyRate } = config.simulation;
  return {
    valueFormat: config.producer.valueFormat,
    backpressure: config.producer.backpressure,
    headers: config.producer.headers,
    topic: config.kafka.topic,
    framing,
    params: { dataVariation, trendEnabled, trendStrength, anomalyRate },
  };
}
