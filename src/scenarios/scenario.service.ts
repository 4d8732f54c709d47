import { Inject, Injectable, Logger, type OnApplicationShutdown, Optional } from '@nestjs/common';
import { kindSensorProblem, magnitudeProblem } from '../anomalies/anomaly.rules.js';
import { AnomalyService } from '../anomalies/anomaly.service.js';
import { clampToLayout } from '../anomalies/anomaly.target.js';
import { ClusterService } from '../cluster/cluster.service.js';
import { CLOCK, type Clock } from '../model/clock.js';
import type { Fleet } from '../model/fleet.js';
import { DomainError, type FieldProblem, notFound } from '../model/domain.error.js';
import { FleetRegistry } from '../simulation/fleet.registry.js';
import type { GenerationParams } from '../simulation/reading.generator.js';
import { ActiveScenario, type ScenarioStatus } from '../simulation/active.scenario.js';
import { SimulationService } from '../simulation/simulation.service.js';
import { BUILTIN_SCENARIOS } from './builtin.scenarios.js';
import { type ScenarioDefinition, scenarioDuration, type ScenarioStage } from './scenario.js';
import type {
  CreateScenarioDto,
  ScenarioDto,
  ScenarioRunDto,
  StageOverridesDto,
} from './scenario.dto.js';
import { ScenarioRun } from './scenario.runner.js';

/** Most user-defined scenarios; keeps the catalog (and the metric's label values) bounded. */
export const MAX_USER_SCENARIOS = 100;
/** Anomaly ids a run lists in its status (the most recent ones). */
const LISTED_ANOMALIES = 100;

/**
 * A scenario run as the cluster's control topic holds it (key `run:current`): every process
 * runs it from the same start, so stages and their anomalies (same ids, same times) agree.
 */
export interface SharedRun {
  definition: ScenarioDefinition;
  fleetId?: string;
  startedAt: number;
  stoppedAt?: number;
}

interface CatalogEntry {
  definition: ScenarioDefinition;
  builtIn: boolean;
}

/** Problems with a scenario's stage anomalies that do not depend on a fleet. */
export function stageAnomalyProblems(stages: readonly ScenarioStage[]): FieldProblem[] {
  const problems: FieldProblem[] = [];
  stages.forEach((stage, i) =>
    stage.anomalies?.forEach((a, j) => {
      const at = `stages.${i}.anomalies.${j}`;
      const problem =
        kindSensorProblem(a.kind, a.sensor, `${at}.sensor`) ??
        magnitudeProblem(a.kind, a.sensor, a.magnitude, `${at}.magnitude`);
      if (problem) problems.push(problem);
    }),
  );
  return problems;
}

/**
 * The scenario catalog (built-in and user-defined) and the one scenario that runs at a time.
 * A run applies each stage's overrides through the simulation and injects its anomalies
 * through the anomaly service; when it ends or is stopped the overrides are cleared, and a
 * stopped run also cancels the anomalies it injected that are still going.
 */
@Injectable()
export class ScenarioService implements OnApplicationShutdown {
  private readonly logger = new Logger('Scenarios');
  private readonly catalog = new Map<string, CatalogEntry>();
  private run?: ScenarioRun;

  constructor(
    private readonly simulation: SimulationService,
    private readonly anomalies: AnomalyService,
    private readonly fleets: FleetRegistry,
    private readonly active: ActiveScenario,
    /** Time and stage timers of the runs. */
    @Inject(CLOCK) private readonly clock: Clock,
    /** Cluster mode: the catalog and the runs go through the control topic. */
    @Optional() private readonly cluster?: ClusterService,
  ) {
    for (const definition of BUILTIN_SCENARIOS) {
      this.catalog.set(definition.name, { definition, builtIn: true });
    }
    fleets.onDelete((fleetId) => {
      const run = this.running;
      if (run?.fleetId !== fleetId) return;
      this.logger.log(`scenario ${run.scenario.name} stopped: its fleet ${fleetId} was deleted`);
      this.halt(run);
    });
    cluster?.handle('scenario', (name, value) =>
      this.applyDefinition(name, value as ScenarioDefinition | null),
    );
    cluster?.handle('run', (_id, value) => this.applyRun(value as SharedRun | null));
  }

  private get shared(): boolean {
    return this.cluster?.enabled === true;
  }

  /** REST: defines a scenario here, or in cluster mode (validated here) in every process. */
  async submitCreate(dto: CreateScenarioDto): Promise<ScenarioDto> {
    if (!this.shared) return this.create(dto);
    const definition = this.define(dto);
    await this.cluster!.write('scenario', definition.name, definition);
    return this.get(definition.name);
  }

  /** REST: deletes a user-defined scenario here, or in every process (cluster mode). */
  async submitDelete(name: string): Promise<void> {
    if (!this.shared) return this.delete(name);
    this.deletable(name);
    await this.cluster!.write('scenario', name, null);
  }

  /** REST: starts a run here, or in every process from one shared start (cluster mode). */
  async submitStart(name: string, fleetId?: string): Promise<ScenarioRunDto> {
    if (!this.shared) return this.start(name, fleetId);
    const { definition } = this.entry(name);
    if (fleetId !== undefined && !this.fleets.has(fleetId)) throw unknownFleet(fleetId);
    const startedAt = this.clock.now();
    await this.cluster!.write('run', 'current', {
      definition,
      ...(fleetId !== undefined ? { fleetId } : {}),
      startedAt,
    } satisfies SharedRun);
    const run = this.run;
    if (!run || run.startedAt !== startedAt) {
      throw new DomainError('CONFLICT', `scenario ${name} was replaced by another start`);
    }
    return this.runDto(run);
  }

  /** REST: stops the running scenario here, or in every process (cluster mode). */
  async submitStop(name: string): Promise<ScenarioRunDto> {
    if (!this.shared) return this.stop(name);
    this.entry(name);
    const run = this.running;
    if (!run || run.scenario.name !== name) {
      throw new DomainError('CONFLICT', `scenario ${name} is not running`);
    }
    await this.cluster!.write('run', 'current', {
      definition: run.scenario,
      ...(run.fleetId !== undefined ? { fleetId: run.fleetId } : {}),
      startedAt: run.startedAt,
      stoppedAt: this.clock.now(),
    } satisfies SharedRun);
    return this.runDto(run);
  }

  /** Applies a scenario definition of the control topic (null: deleted). */
  private applyDefinition(name: string, definition: ScenarioDefinition | null): void {
    const entry = this.catalog.get(name);
    if (entry?.builtIn) return;
    if (definition === null) {
      const run = this.running;
      if (entry && run?.scenario.name === name) this.halt(run);
      this.catalog.delete(name);
      return;
    }
    this.catalog.set(name, { definition, builtIn: false });
  }

  /** Applies the shared run: starts it from its planned start, or stops it. */
  private applyRun(shared: SharedRun | null): void {
    const current = this.running;
    if (shared === null || shared.stoppedAt !== undefined) {
      if (current && (shared === null || current.startedAt === shared.startedAt)) {
        this.halt(current, shared?.stoppedAt);
        this.logger.log(`scenario ${current.scenario.name} stopped`);
      }
      return;
    }
    const { definition, fleetId, startedAt } = shared;
    if (startedAt + scenarioDuration(definition) <= this.clock.now()) return; // over already
    if (fleetId !== undefined && !this.fleets.has(fleetId)) return;
    if (current) {
      if (current.startedAt === startedAt) return;
      this.logger.log(`scenario ${current.scenario.name} stopped to start ${definition.name}`);
      this.halt(current, startedAt);
    }
    this.launch(definition, fleetId, startedAt);
  }

  list(): ScenarioDto[] {
    return [...this.catalog.values()].map((e) => this.toDto(e));
  }

  /** The definition of a scenario of the catalog (e.g. for a backfill to place in time). */
  definition(name: string): ScenarioDefinition {
    return this.entry(name).definition;
  }

  get(name: string): ScenarioDto {
    return this.toDto(this.entry(name));
  }

  create(dto: CreateScenarioDto): ScenarioDto {
    const definition = this.define(dto);
    const entry = { definition, builtIn: false };
    this.catalog.set(definition.name, entry);
    this.logger.log(
      `scenario ${definition.name} defined with ${definition.stages.length} stage(s)`,
    );
    return this.toDto(entry);
  }

  /** Validates a new scenario. */
  private define(dto: CreateScenarioDto): ScenarioDefinition {
    if (this.catalog.has(dto.name)) {
      throw new DomainError('CONFLICT', `a scenario named ${dto.name} already exists`);
    }
    const definition: ScenarioDefinition = {
      name: dto.name,
      ...(dto.description !== undefined ? { description: dto.description } : {}),
      stages: dto.stages.map((s) => ({
        name: s.name,
        durationMs: s.durationMs,
        overrides: overridesOf(s.overrides),
        ...(s.anomalies ? { anomalies: s.anomalies.map((a) => ({ ...a })) } : {}),
      })),
    };
    const problems = stageAnomalyProblems(definition.stages);
    if (problems.length) {
      throw new DomainError('INVALID_INPUT', problems.map((p) => p.message).join('; '), problems);
    }
    const userDefined = [...this.catalog.values()].filter((e) => !e.builtIn).length;
    if (userDefined >= MAX_USER_SCENARIOS) {
      throw new DomainError(
        'LIMIT_EXCEEDED',
        `there are already ${userDefined} user-defined scenarios, the most fleetsim keeps; delete one first`,
      );
    }
    return definition;
  }

  /** The user-defined scenario `name`, or the error deleting it would give. */
  private deletable(name: string): CatalogEntry {
    const entry = this.entry(name);
    if (entry.builtIn) {
      throw new DomainError('CONFLICT', `${name} is a built-in scenario and cannot be deleted`);
    }
    return entry;
  }

  /** Deletes a user-defined scenario, stopping it first if it runs. */
  delete(name: string): void {
    const entry = this.deletable(name);
    const run = this.running;
    if (run?.scenario.name === entry.definition.name) this.halt(run);
    this.catalog.delete(name);
  }

  /** Starts a scenario on one fleet or all of them, stopping the one that runs. */
  start(name: string, fleetId?: string): ScenarioRunDto {
    const { definition } = this.entry(name);
    // The path names the scenario; a fleet the body names that does not exist is 422, not a 404
    // that would read as "no such scenario".
    if (fleetId !== undefined && !this.fleets.has(fleetId)) throw unknownFleet(fleetId);
    const previous = this.running;
    if (previous) {
      this.logger.log(`scenario ${previous.scenario.name} stopped to start ${name}`);
      this.halt(previous);
    }
    return this.runDto(this.launch(definition, fleetId));
  }

  /** Creates and starts a run (from `at`, default now). */
  private launch(definition: ScenarioDefinition, fleetId?: string, at?: number): ScenarioRun {
    const run = new ScenarioRun(definition, fleetId, this.clock, {
      enter: (stage, index, r) => this.enterStage(r, stage, index),
      finish: (r) => this.finish(r),
    });
    this.run = run;
    this.logger.log(
      `scenario ${definition.name} started on ${fleetId ? `fleet ${fleetId}` : 'every fleet'} ` +
        `(${definition.stages.length} stage(s), ${scenarioDuration(definition)} ms)`,
    );
    run.start(at);
    return run;
  }

  /** Stops a running scenario before its end. */
  stop(name: string): ScenarioRunDto {
    this.entry(name);
    const run = this.running;
    if (!run || run.scenario.name !== name) {
      throw new DomainError('CONFLICT', `scenario ${name} is not running`);
    }
    this.halt(run);
    this.logger.log(`scenario ${name} stopped`);
    return this.runDto(run);
  }

  /** The running scenario and stage, for GET /api/v1/simulation and /metrics (ActiveScenario). */
  status(): ScenarioStatus | null {
    const run = this.running;
    if (!run) return null;
    return {
      name: run.scenario.name,
      stage: run.stage.name,
      stageIndex: run.stageIndex,
      ...(run.fleetId !== undefined ? { fleetId: run.fleetId } : {}),
      endsAt: new Date(run.stageEndsAt).toISOString(),
    };
  }

  onApplicationShutdown(): void {
    // Clears the stage timer so the process (and a test) can exit.
    this.run?.stop();
    this.publish();
  }

  /** Tells the simulation which scenario and stage run now. */
  private publish(): void {
    this.active.set(this.status());
  }

  private get running(): ScenarioRun | undefined {
    return this.run?.state === 'running' ? this.run : undefined;
  }

  private entry(name: string): CatalogEntry {
    const entry = this.catalog.get(name);
    if (!entry) throw notFound('scenario', name);
    return entry;
  }

  private enterStage(run: ScenarioRun, stage: ScenarioStage, index: number): void {
    const params = stage.overrides;
    this.simulation.setOverrides(
      Object.keys(params).length
        ? [{ ...(run.fleetId !== undefined ? { fleetId: run.fleetId } : {}), params }]
        : [],
    );
    const fleets = run.fleetId !== undefined ? [this.fleets.get(run.fleetId)!] : this.fleets.all();
    for (const fleet of fleets) {
      stage.anomalies?.forEach((a, j) => this.injectInto(run, fleet, stage, a, index, j));
    }
    this.publish();
    this.logger.log(
      `scenario ${run.scenario.name}: stage ${index + 1}/${run.scenario.stages.length} ${stage.name}`,
    );
  }

  private injectInto(
    run: ScenarioRun,
    fleet: Fleet,
    stage: ScenarioStage,
    a: NonNullable<ScenarioStage['anomalies']>[number],
    stageIndex: number,
    j: number,
  ): void {
    if (!fleet.sensors.includes(a.sensor)) return;
    // Cluster mode: every process injects the same anomaly (same id, same start) itself.
    const fixed = this.shared
      ? {
          id: `inj-${run.startedAt.toString(36)}-${stageIndex}.${j}-${fleet.id}`,
          startsAt: run.stageStartedAt,
        }
      : undefined;
    try {
      const injected = this.anomalies.inject(
        {
          target: { fleetId: fleet.id, ...clampToLayout(fleet.layout, a) },
          kind: a.kind,
          sensor: a.sensor,
          ...(a.magnitude !== undefined ? { magnitude: a.magnitude } : {}),
          durationMs: a.durationMs ?? stage.durationMs,
        },
        { scenario: run.scenario.name, stage: stage.name },
        fixed,
      );
      run.anomalyIds.push(injected.id);
    } catch (err) {
      // One fleet that cannot take an anomaly (an empty floor, too many anomalies) does not
      // stop the scenario for the others.
      const detail = err instanceof DomainError ? err.message : String(err);
      this.logger.warn(
        `scenario ${run.scenario.name}, stage ${stage.name}: ${a.kind} on ${a.sensor} not injected into fleet ${fleet.id}: ${detail}`,
      );
    }
  }

  private finish(run: ScenarioRun): void {
    this.simulation.setOverrides([]);
    this.publish();
    this.logger.log(`scenario ${run.scenario.name} finished`);
  }

  /** Stops a run, clears its overrides and cancels its anomalies that are still going. */
  private halt(run: ScenarioRun, at?: number): void {
    run.stop();
    this.simulation.setOverrides([]);
    this.publish();
    this.anomalies.cancelAll(run.anomalyIds, at);
  }

  private toDto({ definition, builtIn }: CatalogEntry): ScenarioDto {
    return {
      name: definition.name,
      ...(definition.description !== undefined ? { description: definition.description } : {}),
      builtIn,
      stages: definition.stages.map((s) => ({
        name: s.name,
        durationMs: s.durationMs,
        overrides: { ...s.overrides },
        ...(s.anomalies ? { anomalies: s.anomalies.map((a) => ({ ...a })) } : {}),
      })),
      durationMs: scenarioDuration(definition),
      // By name: in cluster mode the run holds its own copy of the definition.
      running: this.running?.scenario.name === definition.name,
    };
  }

  private runDto(run: ScenarioRun): ScenarioRunDto {
    return {
      scenario: run.scenario.name,
      ...(run.fleetId !== undefined ? { fleetId: run.fleetId } : {}),
      state: run.state,
      stage: run.stage.name,
      stageIndex: run.stageIndex,
      stageCount: run.scenario.stages.length,
      startedAt: new Date(run.startedAt).toISOString(),
      stageEndsAt: new Date(run.stageEndsAt).toISOString(),
      endsAt: new Date(run.endsAt).toISOString(),
      anomalies: run.anomalyIds.slice(-LISTED_ANOMALIES),
    };
  }
}

/** The overrides a stage gives, without the keys it leaves out. */
function overridesOf(dto: StageOverridesDto | undefined): Partial<GenerationParams> {
  const out: Partial<GenerationParams> = {};
  if (dto?.dataVariation !== undefined) out.dataVariation = dto.dataVariation;
  if (dto?.trendEnabled !== undefined) out.trendEnabled = dto.trendEnabled;
  if (dto?.trendStrength !== undefined) out.trendStrength = dto.trendStrength;
  if (dto?.anomalyRate !== undefined) out.anomalyRate = dto.anomalyRate;
  return out;
}

/**
 * A start body naming a fleet that does not exist: 422 (INVALID_PLAN), not a 404 that would
 * read as "no such scenario" (the path names the scenario).
 */
function unknownFleet(fleetId: string): DomainError {
  const message = `fleet "${fleetId}" does not exist`;
  return new DomainError('INVALID_PLAN', message, [{ field: 'fleetId', rule: 'exists', message }]);
}
