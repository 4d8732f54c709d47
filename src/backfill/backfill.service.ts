import { type BeforeApplicationShutdown, Injectable, Logger } from '@nestjs/common';
import { AnomalyLabels } from '../anomalies/anomaly.labels.js';
import {
  effectiveMagnitude,
  kindSensorProblem,
  magnitudeProblem,
} from '../anomalies/anomaly.rules.js';
import { type AnomalyTarget, clampToLayout, resolveTarget } from '../anomalies/anomaly.target.js';
import { ConfigService } from '../config/config.service.js';
import { fleetFromSpec } from '../devices/fleet.service.js';
import { DomainError, type FieldProblem, invalidField, notFound } from '../model/domain.error.js';
import { parseDateTime } from '../model/date-time.js';
import { Fleet } from '../model/fleet.js';
import { ProducerService } from '../producer/producer.service.js';
import { ScenarioService } from '../scenarios/scenario.service.js';
import { FleetRegistry } from '../simulation/fleet.registry.js';
import {
  type BackfillDto,
  type CreateBackfillDto,
  MAX_BACKFILL_RANGE_MS,
  MAX_BACKFILL_READINGS,
  MAX_PACE,
} from './backfill.dto.js';
import { BackfillRun, type Pace, type PlannedAnomaly, type PlannedStage } from './backfill.run.js';
import { EventTimeReadings } from './event-time.readings.js';
import { SchemaRegistryService } from '../simulation/schema-registry.service.js';

/** Backfills running at once. */
export const MAX_RUNNING_BACKFILLS = 4;
/** Finished backfills kept for GET /api/v1/backfills. */
export const FINISHED_KEPT = 100;
/** How often running backfills log their progress. */
const PROGRESS_LOG_MS = 5000;

const plural = (n: number, what: string) => `${n} ${what}${n === 1 ? '' : 's'}`;

/**
 * Backfills: validates a request, builds its own fleet (the spec of a live one, or one given)
 * and plan (anomalies and scenario stages in event time), runs it beside live streaming
 * through the same producer, and keeps its progress for the REST API and the log.
 */
@Injectable()
export class BackfillService implements BeforeApplicationShutdown {
  private readonly logger = new Logger('Backfill');
  private readonly runs = new Map<string, BackfillRun>();
  private nextId = 1;
  private logTimer?: NodeJS.Timeout;

  constructor(
    private readonly config: ConfigService,
    private readonly fleets: FleetRegistry,
    private readonly producer: ProducerService,
    private readonly labels: AnomalyLabels,
    private readonly scenarios: ScenarioService,
    private readonly schemas: SchemaRegistryService,
  ) {}

  create(dto: CreateBackfillDto): BackfillDto {
    if ((dto.fleetId === undefined) === (dto.fleet === undefined)) {
      throw invalidField({
        field: 'fleetId',
        rule: 'oneOf',
        message: 'give either fleetId (an existing fleet) or fleet (a fleet spec), not both',
      });
    }
    // Validated as RFC 3339 date-times (IsDateTime): parseDateTime reads them as written.
    const from = parseDateTime(dto.from)!;
    const to = parseDateTime(dto.to)!;
    // Rules between fields, which no JSON Schema states: each field is valid, the request as
    // a whole cannot be carried out (422, as for anomalies outside the range).
    if (!(to > from)) {
      throw planProblem({ field: 'to', rule: 'after', message: 'to must be later than from' });
    }
    if (to - from > MAX_BACKFILL_RANGE_MS) {
      throw planProblem({
        field: 'to',
        rule: 'maxRange',
        message: `a backfill covers at most 366 days; to is ${((to - from) / 86_400_000).toFixed(1)} days after from`,
      });
    }
    const pace = parsePace(dto.pace);
    const fleet =
      dto.fleetId !== undefined ? this.copyOf(dto.fleetId) : fleetFromSpec(dto.fleet!, 'fleet.');
    const total = new EventTimeReadings(fleet, from, to).total;
    if (total > MAX_BACKFILL_READINGS) {
      throw planProblem({
        field: 'to',
        rule: 'maxReadings',
        message: `that range makes ${total} readings; one backfill makes at most ${MAX_BACKFILL_READINGS}`,
      });
    }
    const running = [...this.runs.values()].filter((r) => r.state === 'running').length;
    if (running >= MAX_RUNNING_BACKFILLS) {
      throw new DomainError(
        'LIMIT_EXCEEDED',
        `${running} backfills are running, the most fleetsim runs at once; wait for one or cancel it`,
      );
    }
    const id = `bf-${this.nextId++}`;
    const anomalies = this.plannedAnomalies(id, fleet, dto, from, to);
    const { stages, stageAnomalies, scenario } = this.plannedScenario(
      id,
      fleet,
      dto,
      from,
      to,
      anomalies.length,
    );
    const c = this.config.config;
    const { dataVariation, trendEnabled, trendStrength, anomalyRate } = c.simulation;
    const run = new BackfillRun(
      {
        id,
        fleet,
        from,
        to,
        pace,
        settings: {
          valueFormat: c.producer.valueFormat,
          backpressure: 'block',
          headers: c.producer.headers,
          topic: c.kafka.topic,
          framing: this.schemas.framing(c),
          params: { dataVariation, trendEnabled, trendStrength, anomalyRate },
        },
        anomalies: [...anomalies, ...stageAnomalies].sort((a, b) => a.startsAt - b.startsAt),
        stages,
        scenario,
      },
      {
        producer: this.producer,
        labels: this.labels.enabled ? (l) => this.labels.publish(l) : undefined,
        now: Date.now,
        finished: (r) => this.finished(r),
      },
    );
    this.runs.set(id, run);
    this.sweep();
    this.logger.log(
      `${id}: ${plural(total, 'reading')} of fleet ${fleet.id} (${fleet.deviceCount} devices every ${fleet.intervalMs} ms) ` +
        `from ${new Date(from).toISOString()} to ${new Date(to).toISOString()} at pace ${pace}` +
        (run.plan.anomalies.length ? `, ${plural(run.plan.anomalies.length, 'anomaly')}` : '') +
        (scenario ? `, scenario ${scenario}` : ''),
    );
    run.start();
    this.startLogging();
    return this.toDto(run);
  }

  list(): BackfillDto[] {
    return [...this.runs.values()].reverse().map((r) => this.toDto(r));
  }

  get(id: string): BackfillDto {
    return this.toDto(this.run(id));
  }

  /** Cancels a running backfill: no more readings are made; those offered are still sent. */
  cancel(id: string): BackfillDto {
    const run = this.run(id);
    if (run.cancel())
      this.logger.log(`${id} cancelled after ${run.generated} of ${run.total} readings`);
    return this.toDto(run);
  }

  beforeApplicationShutdown(): void {
    for (const run of this.runs.values()) run.cancel();
    clearInterval(this.logTimer);
  }

  private run(id: string): BackfillRun {
    const run = this.runs.get(id);
    if (!run) throw notFound('backfill', id);
    return run;
  }

  /** A fleet with the live one's spec and devices of its own (fresh state, seq from 0). */
  private copyOf(fleetId: string): Fleet {
    const live = this.fleets.get(fleetId);
    if (!live) throw notFound('fleet', fleetId);
    return new Fleet({
      id: live.id,
      name: live.name,
      deviceCount: live.deviceCount,
      intervalMs: live.intervalMs,
      sensors: [...live.sensors],
      layout: { ...live.layout },
      seed: live.seed,
    });
  }

  private plannedAnomalies(
    id: string,
    fleet: Fleet,
    dto: CreateBackfillDto,
    from: number,
    to: number,
  ): PlannedAnomaly[] {
    return (dto.anomalies ?? []).map((a, i) => {
      const at = `anomalies.${i}`;
      const problem =
        kindSensorProblem(a.kind, a.sensor, `${at}.sensor`) ??
        magnitudeProblem(a.kind, a.sensor, a.magnitude ?? undefined, `${at}.magnitude`);
      if (problem) throw invalidField(problem);
      // Well-formed, but this fleet lacks the sensor: 422, as POST /api/v1/anomalies answers.
      if (!fleet.sensors.includes(a.sensor)) {
        throw planProblem({
          field: `${at}.sensor`,
          rule: 'carriedByFleet',
          message: `fleet ${fleet.id} does not carry sensor ${a.sensor}`,
        });
      }
      const startsAt = parseDateTime(a.startsAt)!;
      if (!(startsAt >= from && startsAt < to)) {
        throw planProblem({
          field: `${at}.startsAt`,
          rule: 'inRange',
          message: `${at}.startsAt must be within [from, to)`,
        });
      }
      const target: AnomalyTarget = { fleetId: fleet.id, ...stripNulls(a.target ?? {}) };
      const { devices, unknownIds } = resolveTarget(fleet, target);
      if (unknownIds.length || devices.length === 0) {
        throw planProblem({
          field: `${at}.target`,
          rule: 'matchesDevices',
          message: unknownIds.length
            ? `${at}.target.deviceIds lists devices that are not in fleet ${fleet.id}: ${unknownIds.slice(0, 5).join(', ')}`
            : `${at}.target matches no device of fleet ${fleet.id}`,
        });
      }
      return {
        id: `${id}-a${i + 1}`,
        kind: a.kind,
        sensor: a.sensor,
        magnitude: effectiveMagnitude(a.kind, a.sensor, a.magnitude ?? undefined),
        target,
        devices,
        startsAt,
        endsAt: startsAt + a.durationMs,
      };
    });
  }

  /** The scenario's stages and stage anomalies placed in event time, cut at `to`. */
  private plannedScenario(
    id: string,
    fleet: Fleet,
    dto: CreateBackfillDto,
    from: number,
    to: number,
    numbered: number,
  ): { stages: PlannedStage[]; stageAnomalies: PlannedAnomaly[]; scenario?: string } {
    if (!dto.scenario) return { stages: [], stageAnomalies: [] };
    const definition = this.scenarios.definition(dto.scenario.name);
    const start = dto.scenario.startAt !== undefined ? parseDateTime(dto.scenario.startAt)! : from;
    if (!(start >= from && start < to)) {
      throw planProblem({
        field: 'scenario.startAt',
        rule: 'inRange',
        message: 'scenario.startAt must be within [from, to)',
      });
    }
    const stages: PlannedStage[] = [];
    const stageAnomalies: PlannedAnomaly[] = [];
    let at = start;
    for (const stage of definition.stages) {
      if (at >= to) break;
      stages.push({
        scenario: definition.name,
        name: stage.name,
        startsAt: at,
        endsAt: at + stage.durationMs,
        overrides: { ...stage.overrides },
      });
      for (const a of stage.anomalies ?? []) {
        if (!fleet.sensors.includes(a.sensor)) continue;
        const target: AnomalyTarget = {
          fleetId: fleet.id,
          ...stripNulls(clampToLayout(fleet.layout, a)),
        };
        const { devices } = resolveTarget(fleet, target);
        if (devices.length === 0) continue;
        stageAnomalies.push({
          id: `${id}-a${numbered + stageAnomalies.length + 1}`,
          kind: a.kind,
          sensor: a.sensor,
          magnitude: effectiveMagnitude(a.kind, a.sensor, a.magnitude),
          target,
          devices,
          startsAt: at,
          endsAt: at + (a.durationMs ?? stage.durationMs),
          scenario: definition.name,
          stage: stage.name,
        });
      }
      at += stage.durationMs;
    }
    return { stages, stageAnomalies, scenario: definition.name };
  }

  private finished(run: BackfillRun): void {
    const secs = ((run.finishedAt ?? Date.now()) - run.startedAt) / 1000;
    const msg =
      `${run.id} ${run.state}: ${run.generated} of ${run.total} readings, ${run.deliveredRecords} acknowledged, ` +
      `${run.failedRecords} failed in ${secs.toFixed(1)} s (${Math.round(run.generated / Math.max(secs, 0.001))} readings/s)`;
    if (run.state === 'failed') this.logger.warn(`${msg}: ${run.error}`);
    else this.logger.log(msg);
  }

  private startLogging(): void {
    if (this.logTimer) return;
    this.logTimer = setInterval(() => {
      const running = [...this.runs.values()].filter((r) => r.state === 'running');
      if (running.length === 0) {
        clearInterval(this.logTimer);
        this.logTimer = undefined;
        return;
      }
      for (const r of running) {
        const p = this.toDto(r).progress;
        this.logger.log(
          `${r.id}: ${p.done}/${p.total} readings (${p.percent} %), ${p.acknowledged} acknowledged, ` +
            `${p.ratePerSecond}/s, ETA ${p.etaSeconds ?? '?'} s`,
        );
      }
    }, PROGRESS_LOG_MS);
    this.logTimer.unref();
  }

  /** Keeps the last FINISHED_KEPT finished backfills. */
  private sweep(): void {
    const finished = [...this.runs.values()].filter((r) => r.state !== 'running');
    for (const r of finished.slice(0, Math.max(0, finished.length - FINISHED_KEPT))) {
      this.runs.delete(r.id);
    }
  }

  private toDto(run: BackfillRun): BackfillDto {
    const end = run.finishedAt ?? Date.now();
    const secs = Math.max(0.001, (end - run.startedAt) / 1000);
    const rate = run.generated / secs;
    const left = run.total - run.generated;
    return {
      id: run.id,
      fleetId: run.plan.fleet.id,
      from: new Date(run.plan.from).toISOString(),
      to: new Date(run.plan.to).toISOString(),
      pace: run.plan.pace,
      state: run.state,
      progress: {
        done: run.generated,
        total: run.total,
        percent: run.total ? Math.floor((run.generated / run.total) * 10000) / 100 : 100,
        acknowledged: run.deliveredRecords,
        failed: run.failedRecords,
        ratePerSecond: Math.round(rate),
        etaSeconds:
          run.state !== 'running'
            ? null
            : left === 0
              ? 0
              : rate > 0
                ? Math.ceil(left / rate)
                : null,
      },
      offsets: run.writtenRanges(),
      anomalies: run.plan.anomalies.length,
      scenario: run.plan.scenario ?? null,
      startedAt: new Date(run.startedAt).toISOString(),
      finishedAt: run.finishedAt === undefined ? null : new Date(run.finishedAt).toISOString(),
      ...(run.error ? { error: run.error } : {}),
    };
  }
}

function parsePace(pace: unknown): Pace {
  if (pace === undefined || pace === null || pace === 'max') return 'max';
  if (typeof pace === 'number' && Number.isFinite(pace) && pace >= 1 && pace <= MAX_PACE)
    return pace;
  throw invalidField({
    field: 'pace',
    rule: 'pace',
    message: `pace must be "max" or a number from 1 to ${MAX_PACE} (simulated seconds per wall second)`,
  });
}

function planProblem(problem: FieldProblem): DomainError {
  return new DomainError('INVALID_PLAN', problem.message, [problem]);
}

function stripNulls<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(
    Object.entries(o).filter(([, v]) => v !== null && v !== undefined),
  ) as Partial<T>;
}
