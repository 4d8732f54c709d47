import { Type } from 'class-transformer';
import {
  ArrayMaxSize,
  ArrayMinSize,
  IsArray,
  IsBoolean,
  IsIn,
  IsInt,
  IsNumber,
  IsOptional,
  IsString,
  Matches,
  Max,
  MaxLength,
  Min,
  MinLength,
  ValidateNested,
} from 'class-validator';
import { ANOMALY_KINDS, type AnomalyKind } from '../model/anomaly.js';
import { MAX_ANOMALY_DURATION_MS, MIN_ANOMALY_DURATION_MS } from '../anomalies/anomaly.dto.js';
import { SENSOR_NAMES, type SensorName } from '../model/sensors/sensor.model.js';

/** Longest stage: one day. */
export const MAX_STAGE_DURATION_MS = 86_400_000;
/** Shortest stage: one second. */
export const MIN_STAGE_DURATION_MS = 1000;
export const MAX_STAGES = 100;
export const MAX_STAGE_ANOMALIES = 20;

export class StageOverridesDto {
  /** Noise scale, 0 … 1. */
  @IsOptional()
  @IsNumber({ allowNaN: false, allowInfinity: false })
  @Min(0)
  @Max(1)
  dataVariation?: number;

  /** Day/night, seasonal and load trends on or off. */
  @IsOptional()
  @IsBoolean()
  trendEnabled?: boolean;

  /** Strength of the trends, 0 … 1. */
  @IsOptional()
  @IsNumber({ allowNaN: false, allowInfinity: false })
  @Min(0)
  @Max(1)
  trendStrength?: number;

  /** Share of readings that are random anomalies, 0 … 0.1. */
  @IsOptional()
  @IsNumber({ allowNaN: false, allowInfinity: false })
  @Min(0)
  @Max(0.1)
  anomalyRate?: number;
}

export class StageAnomalyDto {
  /** Kind of anomaly (see POST /api/v1/anomalies). */
  @IsIn(ANOMALY_KINDS)
  kind!: AnomalyKind;

  /** Sensor it acts on; fleets that do not carry it are left out. */
  @IsIn(SENSOR_NAMES)
  sensor!: SensorName;

  /** Strength, with the ranges of POST /api/v1/anomalies; the kind's default when omitted. */
  @IsOptional()
  @IsNumber({ allowNaN: false, allowInfinity: false })
  magnitude?: number;

  /**
   * Only this building of each fleet; building, floor and room all have to match, and a
   * number beyond a fleet's layout means its highest (floor 3 of a two-storey building is
   * floor 2). The whole fleet when no place is given.
   */
  @IsOptional()
  @IsInt()
  @Min(1)
  building?: number;

  /** Only this floor. */
  @IsOptional()
  @IsInt()
  @Min(1)
  floor?: number;

  /** Only this room (numbered per floor). */
  @IsOptional()
  @IsInt()
  @Min(1)
  room?: number;

  /** How long it lasts in ms (1000 … 86400000); the stage's duration when omitted. */
  @IsOptional()
  @IsInt()
  @Min(MIN_ANOMALY_DURATION_MS)
  @Max(MAX_ANOMALY_DURATION_MS)
  durationMs?: number;
}

export class ScenarioStageDto {
  /**
   * Name of the stage, shown in GET /api/v1/simulation and in the
   * fleetsim_scenario_stage_info metric.
   * @example "peak"
   */
  @IsString()
  @MinLength(1)
  @MaxLength(64)
  name!: string;

  /**
   * How long the stage lasts, in ms (1000 … 86400000).
   * @example 60000
   */
  @IsInt()
  @Min(MIN_STAGE_DURATION_MS)
  @Max(MAX_STAGE_DURATION_MS)
  durationMs!: number;

  /** Generation settings in force during the stage; the configured ones for what is left out. */
  @IsOptional()
  @ValidateNested()
  @Type(() => StageOverridesDto)
  overrides?: StageOverridesDto;

  /** Anomalies injected at the start of the stage into each fleet the scenario runs on. */
  @IsOptional()
  @IsArray()
  @ArrayMaxSize(MAX_STAGE_ANOMALIES)
  @ValidateNested({ each: true })
  @Type(() => StageAnomalyDto)
  anomalies?: StageAnomalyDto[];
}

export class CreateScenarioDto {
  /**
   * Unique name: lower-case letters, digits and single dashes.
   * @example "night-shift"
   */
  @IsString()
  @MaxLength(48)
  @Matches(/^[a-z0-9]+(-[a-z0-9]+)*$/, {
    message: 'name must be lower-case letters, digits and single dashes (e.g. night-shift)',
  })
  name!: string;

  /** What the scenario plays out. */
  @IsOptional()
  @IsString()
  @MaxLength(500)
  description?: string;

  /** The stages, run in order (1 … 100). */
  @IsArray()
  @ArrayMinSize(1, { message: 'stages must hold at least one stage' })
  @ArrayMaxSize(MAX_STAGES)
  @ValidateNested({ each: true })
  @Type(() => ScenarioStageDto)
  stages!: ScenarioStageDto[];
}

export class StartScenarioDto {
  /** Run on this fleet only; on every fleet when omitted. */
  @IsOptional()
  @IsString()
  fleetId?: string;
}

export class ScenarioDto {
  name!: string;
  description?: string;
  /** True for the scenarios fleetsim ships with (they cannot be deleted). */
  builtIn!: boolean;
  stages!: ScenarioStageDto[];
  /** Length of the whole plan, in ms. */
  durationMs!: number;
  /** True while the scenario runs. */
  running!: boolean;
}

export class ScenarioRunDto {
  scenario!: string;
  /** The fleet it runs on; every fleet when absent. */
  fleetId?: string;
  /** running, finished (the last stage is over) or stopped (before its end). */
  state!: 'running' | 'finished' | 'stopped';
  /** The current (or last) stage. */
  stage!: string;
  /** 0-based index of that stage. */
  stageIndex!: number;
  stageCount!: number;
  startedAt!: string;
  /** When the current stage ends (ISO-8601). */
  stageEndsAt!: string;
  /** When the last stage ends, as planned (ISO-8601). */
  endsAt!: string;
  /** Ids of the anomalies the run has injected so far (see GET /api/v1/anomalies). */
  anomalies!: string[];
}
