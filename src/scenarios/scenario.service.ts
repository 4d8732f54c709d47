import { HttpStatus, Injectable, Logger, type OnApplicationShutdown } from '@nestjs/common';
import { kindSensorProblem, magnitudeProblem } from '../anomalies/anomaly.rules.js';
import { AnomalyService } from '../anomalies/anomaly.service.js';
import { clampToLayout } from '../anomalies/anomaly.target.js';
import type { Fleet } from '../devices/fleet.js';
import { type FieldProblem, notFound, ProblemException } from '../http/problem.js';
import { FleetRegistry } from '../simulation/fleet.registry.js';
import type { GenerationParams } from '../simulation/reading.generator.js';
import { type ScenarioStatus, SimulationService } from '../simulation/simulation.service.js';
import { BUILTIN_SCENARIOS } from './builtin.scenarios.js';
import { type ScenarioDefinition, scenarioDuration, type ScenarioStage } from './scenario.js';
import type {
  CreateScenarioDto,
  ScenarioDto,
  ScenarioRunDto,
  StageOverridesDto,
} from './scenario.dto.js';
import { realTimers, ScenarioRun, type Timers } from './scenario.runner.js';

/** Most user-defined scenarios; keeps the catalog (and the metric's label values) bounded. */
export const MAX_USER_SCENARIOS = 100;
/** Anomaly ids a run lists in its status (the most recent ones). */
const LISTED_ANOMALIES = 100;

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
  /** Timer functions of the runs; fake ones in unit tests. */
  timers: Timers = realTimers;

  constructor(
    private readonly simulation: SimulationService,
    private readonly anomalies: AnomalyService,
    private readonly fleets: FleetRegistry,
  ) {
    for (const definition of BUILTIN_SCENARIOS) {
      this.catalog.set(definition.name, { definition, builtIn: true });
    }
    simulation.scenarioStatus = () => this.status();
    fleets.onDelete((fleetId) => {
      const run = this.running;
      if (run?.fleetId !== fleetId) return;
      this.logger.log(`scenario ${run.scenario.name} stopped: its fleet ${fleetId} was deleted`);
      this.halt(run);
    });
  }

  list(): ScenarioDto[] {
    return [...this.catalog.values()].map((e) => this.toDto(e));
  }

  get(name: string): ScenarioDto {
    return this.toDto(this.entry(name));
  }

  create(dto: CreateScenarioDto): ScenarioDto {
    if (this.catalog.has(dto.name)) {
      throw new ProblemException(
        HttpStatus.CONFLICT,
        `a scenario named ${dto.name} already exists`,
      );
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
      throw new ProblemException(
        HttpStatus.BAD_REQUEST,
        problems.map((p) => p.message).join('; '),
        { errors: problems },
      );
    }
    const userDefined = [...this.catalog.values()].filter((e) => !e.builtIn).length;
    if (userDefined >= MAX_USER_SCENARIOS) {
      throw new ProblemException(
        HttpStatus.UNPROCESSABLE_ENTITY,
        `there are already ${userDefined} user-defined scenarios, the most fleetsim keeps; delete one first`,
      );
    }
    const entry = { definition, builtIn: false };
    this.catalog.set(definition.name, entry);
    this.logger.log(
      `scenario ${definition.name} defined with ${definition.stages.length} stage(s)`,
    );
    return this.toDto(entry);
  }

  /** Deletes a user-defined scenario, stopping it first if it runs. */
  delete(name: string): void {
    const entry = this.entry(name);
    if (entry.builtIn) {
      throw new ProblemException(
        HttpStatus.CONFLICT,
        `${name} is a built-in scenario and cannot be deleted`,
      );
    }
    const run = this.running;
    if (run?.scenario === entry.definition) this.halt(run);
    this.catalog.delete(name);
  }

  /** Starts a scenario on one fleet or all of them, stopping the one that runs. */
  start(name: string, fleetId?: string): ScenarioRunDto {
    const { definition } = this.entry(name);
    // The path names the scenario; a fleet the body names that does not exist is 422, not a 404
    // that would read as "no such scenario".
    if (fleetId !== undefined && !this.fleets.has(fleetId)) {
      const message = `fleet "${fleetId}" does not exist`;
      throw new ProblemException(HttpStatus.UNPROCESSABLE_ENTITY, message, {
        errors: [{ field: 'fleetId', rule: 'exists', message }],
      });
    }
    const previous = this.running;
    if (previous) {
      this.logger.log(`scenario ${previous.scenario.name} stopped to start ${name}`);
      this.halt(previous);
    }
    const run = new ScenarioRun(definition, fleetId, this.timers, {
      enter: (stage, index, r) => this.enterStage(r, stage, index),
      finish: (r) => this.finish(r),
    });
    this.run = run;
    this.logger.log(
      `scenario ${name} started on ${fleetId ? `fleet ${fleetId}` : 'every fleet'} ` +
        `(${definition.stages.length} stage(s), ${scenarioDuration(definition)} ms)`,
    );
    run.start();
    return this.runDto(run);
  }

  /** Stops a running scenario before its end. */
  stop(name: string): ScenarioRunDto {
    this.entry(name);
    const run = this.running;
    if (!run || run.scenario.name !== name) {
      throw new ProblemException(HttpStatus.CONFLICT, `scenario ${name} is not running`);
    }
    this.halt(run);
    this.logger.log(`scenario ${name} stopped`);
    return this.runDto(run);
  }

  /** The running scenario and stage, for GET /api/v1/simulation and /metrics. */
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
      for (const a of stage.anomalies ?? []) this.injectInto(run, fleet, stage, a);
    }
    this.logger.log(
      `scenario ${run.scenario.name}: stage ${index + 1}/${run.scenario.stages.length} ${stage.name}`,
    );
  }

  private injectInto(
    run: ScenarioRun,
    fleet: Fleet,
    stage: ScenarioStage,
    a: NonNullable<ScenarioStage['anomalies']>[number],
  ): void {
    if (!fleet.sensors.includes(a.sensor)) return;
    try {
      const injected = this.anomalies.inject(
        {
          target: { fleetId: fleet.id, ...clampToLayout(fleet.layout, a) },
          kind: a.kind,
          sensor: a.sensor,
          ...(a.magnitude !== undefined ? { magnitude: a.magnitude } : {}),
          durationMs: a.durationMs ?? stage.durationMs,
        },
        run.scenario.name,
      );
      run.anomalyIds.push(injected.id);
    } catch (err) {
      // One fleet that cannot take an anomaly (an empty floor, too many anomalies) does not
      // stop the scenario for the others.
      const detail =
        err instanceof ProblemException
          ? (err.getResponse() as { detail: string }).detail
          : String(err);
      this.logger.warn(
        `scenario ${run.scenario.name}, stage ${stage.name}: ${a.kind} on ${a.sensor} not injected into fleet ${fleet.id}: ${detail}`,
      );
    }
  }

  private finish(run: ScenarioRun): void {
    this.simulation.setOverrides([]);
    this.logger.log(`scenario ${run.scenario.name} finished`);
  }

  /** Stops a run, clears its overrides and cancels its anomalies that are still going. */
  private halt(run: ScenarioRun): void {
    run.stop();
    this.simulation.setOverrides([]);
    this.anomalies.cancelAll(run.anomalyIds);
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
      running: this.running?.scenario === definition,
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
