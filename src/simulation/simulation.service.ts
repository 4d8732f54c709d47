import {
  type BeforeApplicationShutdown,
  Injectable,
  Logger,
  type OnApplicationBootstrap,
} from '@nestjs/common';
import { ConfigService } from '../config/config.service.js';
import type { ValueFormat } from '../config/fleetsim.config.js';
import type { Device, Fleet } from '../devices/fleet.js';
import { KafkaTarget } from '../kafka/kafka-target.js';
import { FleetsimMetrics, SERIALIZATION_SAMPLE_EVERY } from '../metrics/fleetsim.metrics.js';
import { ProducerService } from '../producer/producer.service.js';
import { systemClock } from './clock.js';
import { FleetRegistry } from './fleet.registry.js';
import { type GenerationParams, generateReading } from './reading.generator.js';
import { ProtobufReadingSerializer } from './protobuf.serializer.js';
import { JsonReadingSerializer, type ReadingSerializer } from './reading.serializer.js';
import { Scheduler, type TickResult } from './scheduler.js';

/** How often the rate line is logged. */
const RATE_LOG_MS = 10_000;

/** Overrides of generation settings a scenario stage applies, for all fleets or one. */
export interface ParamOverrides {
  fleetId?: string;
  params: Partial<GenerationParams>;
}

export interface ClusterStatus {
  name: string;
  member: string;
  partitions: number;
  members: Array<{ member: string; partitions: number[]; rate: number; at: number }>;
}

export interface ScenarioStatus {
  name: string;
  stage: string;
  stageIndex: number;
  fleetId?: string;
  endsAt: string;
}

/**
 * Runs the scheduler over the fleets and turns each due reading into a Kafka message:
 * generate → serialize → producer. Holds the schedule when the producer says so (block).
 */
@Injectable()
export class SimulationService implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger('Simulation');
  readonly scheduler: Scheduler;
  /** Writes message values in the configured producer.valueFormat. */
  serializer: ReadingSerializer;
  private baseParams: GenerationParams;
  private overrides: ParamOverrides[] = [];
  private paramsByFleet = new Map<string, GenerationParams>();
  private lastTick: TickResult = { emitted: 0, held: false, behindMs: 0 };
  private rateTimer?: NodeJS.Timeout;
  private lastRate = { at: Date.now(), generated: 0, acknowledged: 0 };
  private serialized = 0;
  /**
   * Cluster mode: decides whether this process emits a due reading (it owns the device's
   * partition) and sets its seq from the schedule; unset, every reading is emitted.
   */
  gate?: (fleet: Fleet, device: Device, scheduledAt: number) => boolean;
  /** Reports the cluster (members, partitions, rates) in cluster mode, set by the cluster service. */
  clusterStatus?: () => ClusterStatus;
  /** Reports the active scenario, set by the scenario service. */
  scenarioStatus: () => ScenarioStatus | null = () => null;

  constructor(
    private readonly config: ConfigService,
    private readonly fleets: FleetRegistry,
    private readonly producer: ProducerService,
    private readonly target: KafkaTarget,
    private readonly metrics: FleetsimMetrics,
  ) {
    const sim = config.config.simulation;
    this.baseParams = paramsOf(config.config);
    this.serializer = serializerFor(config.config.producer.valueFormat);
    this.scheduler = new Scheduler(systemClock, this.sink, { tickMs: sim.tickMs });
    config.onUpdated(({ previous, current }) => {
      if (current.producer.valueFormat !== previous.producer.valueFormat) {
        this.serializer = serializerFor(current.producer.valueFormat);
      }
      this.baseParams = paramsOf(current);
      this.scheduler.setTickMs(current.simulation.tickMs);
      this.recomputeParams();
    });
    metrics.watchSimulation(() => {
      const scenario = this.scenarioStatus();
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

  /** The hot path: one call per due reading. */
  private readonly sink = (fleet: Fleet, device: Device, scheduledAt: number): boolean => {
    const producer = this.producer;
    if (!producer.accepting && this.config.config.producer.backpressure === 'block') return false;
    if (this.gate !== undefined && !this.gate(fleet, device, scheduledAt)) return true;
    this.emit(fleet, device, scheduledAt);
    return true;
  };

  /** Generates, serializes and queues one reading of `device` at event time `scheduledAt`. */
  emit(fleet: Fleet, device: Device, scheduledAt: number): void {
    const producer = this.producer;
    const params = this.paramsByFleet.get(fleet.id) ?? this.baseParams;
    if (generateReading(fleet, device, scheduledAt, params)) {
      producer.offer({
        key: device.key,
        value: this.serialize(fleet, device, scheduledAt),
        hash: device.hash,
        partition: 0,
        scheduledAt,
      });
    }
    this.metrics.scheduleLag.observe(Math.max(0, Date.now() - scheduledAt) / 1000);
  }

  /** Serializes a reading, timing one in SERIALIZATION_SAMPLE_EVERY to keep the cost per message flat. */
  private serialize(fleet: Fleet, device: Device, scheduledAt: number): Buffer {
    if ((++this.serialized & (SERIALIZATION_SAMPLE_EVERY - 1)) !== 0) {
      return this.serializer.serialize(fleet, device, scheduledAt);
    }
    const started = performance.now();
    const value = this.serializer.serialize(fleet, device, scheduledAt);
    this.metrics.serialization.observe((performance.now() - started) / 1000);
    return value;
  }

  onApplicationBootstrap(): void {
    if (this.config.config.simulation.autoStart && this.target.connect) this.start();
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
    this.recomputeParams();
  }

  detach(fleetId: string): void {
    this.scheduler.remove(fleetId);
    this.fleets.delete(fleetId);
    this.serializer.forget(fleetId);
    this.paramsByFleet.delete(fleetId);
  }

  resized(fleet: Fleet): void {
    this.scheduler.resized(fleet);
  }

  retimed(fleet: Fleet, oldIntervalMs: number, oldAnchorMs?: number): void {
    this.scheduler.retimed(fleet, oldIntervalMs, oldAnchorMs);
  }

  /** Replaces the scenario overrides; they apply from the next reading. */
  setOverrides(overrides: ParamOverrides[]): void {
    this.overrides = overrides;
    this.recomputeParams();
  }

  /** Generation settings in force for a fleet. */
  paramsFor(fleetId: string): GenerationParams {
    return this.paramsByFleet.get(fleetId) ?? this.baseParams;
  }

  private recomputeParams(): void {
    this.paramsByFleet.clear();
    for (const fleet of this.fleets.all()) {
      let params = this.baseParams;
      for (const o of this.overrides) {
        if (!o.fleetId || o.fleetId === fleet.id) params = { ...params, ...o.params };
      }
      if (params !== this.baseParams) this.paramsByFleet.set(fleet.id, params);
    }
  }

  private counts() {
    const s = this.producer.producer.stats;
    return { generated: s.generated, acknowledged: s.acknowledged };
  }

  private logRate(): void {
    const now = Date.now();
    const c = this.counts();
    const secs = (now - this.lastRate.at) / 1000;
    const gen = (c.generated - this.lastRate.generated) / secs;
    const ack = (c.acknowledged - this.lastRate.acknowledged) / secs;
    this.lastRate = { at: now, ...c };
    const s = this.producer.producer.stats;
    this.logger.log(
      `rate ${gen.toFixed(0)} msg/s generated, ${ack.toFixed(0)} msg/s acknowledged ` +
        `(target ${this.fleets.targetRate.toFixed(0)}/s, ${this.fleets.deviceCount} devices in ${this.fleets.size} fleets); ` +
        `queued ${s.queued}, failed ${s.failed}, dropped ${s.droppedTotal}, behind ${this.lastTick.behindMs.toFixed(0)} ms`,
    );
  }

  status() {
    const s = this.producer.producer.stats;
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
      scenario: this.scenarioStatus(),
      params: this.baseParams,
      ...(this.clusterStatus ? { cluster: this.clusterStatus() } : {}),
    };
  }

  beforeApplicationShutdown(): void {
    this.stop();
  }
}

/** The serializer writing values in `format`. */
export function serializerFor(format: ValueFormat): ReadingSerializer {
  switch (format) {
    case 'json':
      return new JsonReadingSerializer();
    case 'protobuf':
      return new ProtobufReadingSerializer();
  }
}

function paramsOf(config: { simulation: GenerationParams }): GenerationParams {
  const { dataVariation, trendEnabled, trendStrength, anomalyRate } = config.simulation;
  return { dataVariation, trendEnabled, trendStrength, anomalyRate };
}
