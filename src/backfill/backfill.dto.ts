import { ApiProperty } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import {
  ArrayMaxSize,
  IsArray,
  IsInt,
  IsObject,
  IsOptional,
  IsString,
  Max,
  Min,
  MinLength,
  ValidateNested,
} from 'class-validator';
import {
  AnomalyEffectDto,
  AnomalyPlaceDto,
  MAX_ANOMALY_DURATION_MS,
  MIN_ANOMALY_DURATION_MS,
} from '../anomalies/anomaly.dto.js';
import { kindSensorBranches } from '../anomalies/anomaly.schema.js';
import { ApiSchemaRules } from '../http/openapi.js';
import { IsDateTime, IsOmittable } from '../http/validation.schema.js';
import { FleetSpecDto } from '../config/fleet-spec.dto.js';
import { BACKFILL_STATES, type BackfillState } from './backfill.run.js';

/** Longest range one backfill covers: 366 days. */
export const MAX_BACKFILL_RANGE_MS = 366 * 86_400_000;
/** Most readings one backfill makes: 2 billion. */
export const MAX_BACKFILL_READINGS = 2_000_000_000;
/** Most anomalies one backfill places. */
export const MAX_BACKFILL_ANOMALIES = 1000;
/** Fastest pace factor (simulated seconds per wall second) below "max". */
export const MAX_PACE = 1_000_000;

/** The part of the fleet a backfill anomaly acts on (the filters of POST /api/v1/anomalies). */
@ApiSchemaRules({})
export class BackfillTargetDto extends AnomalyPlaceDto {}

/** The sensor must suit the kind, and the magnitude both (BackfillService checks). */
@ApiSchemaRules({ anyOf: kindSensorBranches() })
export class BackfillAnomalyDto extends AnomalyEffectDto {
  /** The part of the fleet it acts on; the whole fleet when omitted. */
  @IsOptional()
  @IsObject()
  @ValidateNested()
  @Type(() => BackfillTargetDto)
  target?: BackfillTargetDto;

  /**
   * Event time it starts (RFC 3339), within [from, to).
   * @example "2026-03-01T14:00:00Z"
   */
  @IsDateTime()
  startsAt!: string;

  /**
   * How long it lasts, in ms of event time (1000 … 86400000).
   * @example 600000
   */
  @IsInt()
  @Min(MIN_ANOMALY_DURATION_MS)
  @Max(MAX_ANOMALY_DURATION_MS)
  durationMs!: number;
}

export class BackfillScenarioDto {
  /**
   * A scenario of the catalog (GET /api/v1/scenarios).
   * @example "heat-wave"
   */
  @IsString()
  @MinLength(1)
  name!: string;

  /** Event time its first stage begins (RFC 3339), within [from, to); `from` when omitted. */
  @IsOmittable()
  @IsDateTime()
  startAt?: string;
}

/** Either fleetId or fleet, not both (BackfillService.create checks). */
@ApiSchemaRules({ oneOf: [{ required: ['fleetId'] }, { required: ['fleet'] }] })
export class CreateBackfillDto {
  /**
   * An existing fleet: the backfill uses its spec (id, seed, size, layout, sensors, interval)
   * on devices of its own; the live fleet streams on untouched. Give this or `fleet`.
   * @example "plant-a"
   */
  @IsOmittable()
  @IsString()
  fleetId?: string;

  /** A fleet spec, as POST /api/v1/fleets takes it, used only by this backfill. */
  @IsOmittable()
  @IsObject()
  @ValidateNested()
  @Type(() => FleetSpecDto)
  fleet?: FleetSpecDto;

  /**
   * Start of the range (event time, RFC 3339, included).
   * @example "2026-03-01T00:00:00Z"
   */
  @IsDateTime()
  from!: string;

  /**
   * End of the range (event time, RFC 3339, excluded); at most 366 days after `from`.
   * @example "2026-03-02T00:00:00Z"
   */
  @IsDateTime()
  to!: string;

  /**
   * "max": as fast as the producer takes readings; or a speed-up factor, simulated seconds
   * per wall second (1 … 1000000), e.g. 60 makes an hour in a minute.
   */
  @IsOptional()
  @ApiProperty({
    oneOf: [
      { type: 'string', enum: ['max'] },
      { type: 'number', minimum: 1, maximum: MAX_PACE },
    ],
    default: 'max',
    example: 'max',
  })
  pace?: 'max' | number;

  /** Anomalies placed in simulated time. */
  @IsOptional()
  @IsArray()
  @ArrayMaxSize(MAX_BACKFILL_ANOMALIES)
  @ValidateNested({ each: true })
  @Type(() => BackfillAnomalyDto)
  anomalies?: BackfillAnomalyDto[];

  /** A scenario placed in simulated time: its stages' overrides and anomalies by event time. */
  @IsOptional()
  @IsObject()
  @ValidateNested()
  @Type(() => BackfillScenarioDto)
  scenario?: BackfillScenarioDto;
}

export class BackfillOffsetsDto {
  topic!: string;
  partition!: number;
  /** First offset a reading of this backfill got in this partition. */
  firstOffset!: number;
  /** Last offset a reading of this backfill got in this partition. */
  lastOffset!: number;
}

export class BackfillProgressDto {
  /** Readings generated so far (a dropout's silent readings included). */
  done!: number;
  /** Readings in the range. */
  total!: number;
  /** done / total, in percent (two decimals). */
  percent!: number;
  /** Records Kafka acknowledged. */
  acknowledged!: number;
  /** Records that could not be delivered. */
  failed!: number;
  /** Readings generated per second of wall time since the start. */
  ratePerSecond!: number;
  /** Seconds left at that rate; null when done or not yet known. */
  etaSeconds!: number | null;
}

export class BackfillDto {
  /** @example "bf-1" */
  id!: string;
  fleetId!: string;
  from!: string;
  to!: string;
  @ApiProperty({ oneOf: [{ type: 'string', enum: ['max'] }, { type: 'number' }] })
  pace!: 'max' | number;
  @ApiProperty({ enum: BACKFILL_STATES })
  state!: BackfillState;
  progress!: BackfillProgressDto;
  /** The offsets written, per topic and partition (first and last). */
  offsets!: BackfillOffsetsDto[];
  /** Anomalies placed (including a scenario's), with their ids as in the label topic. */
  anomalies!: number;
  scenario!: string | null;
  startedAt!: string;
  finishedAt!: string | null;
  /** Why it failed. */
  error?: string;
}
