import { Type } from 'class-transformer';
import {
  ArrayMaxSize,
  ArrayMinSize,
  IsArray,
  IsIn,
  IsInt,
  IsNumber,
  IsObject,
  IsOptional,
  IsString,
  Max,
  Min,
  ValidateNested,
} from 'class-validator';
import { ApiSchemaRules } from '../http/openapi.js';
import { MAX_BUILDINGS, MAX_FLOORS, MAX_ROOMS } from '../model/layout.js';
import { SENSOR_NAMES, type SensorName } from '../model/sensors/sensor.model.js';
import { ANOMALY_KINDS, type AnomalyKind } from '../model/anomaly.js';
import { kindSensorBranches } from './anomaly.schema.js';

/** Longest an injected anomaly may last: one day. */
export const MAX_ANOMALY_DURATION_MS = 86_400_000;
/** Shortest injected anomaly: one second. */
export const MIN_ANOMALY_DURATION_MS = 1000;
/** Furthest ahead an anomaly may be scheduled: one hour. */
export const MAX_ANOMALY_START_IN_MS = 3_600_000;
/** Most device ids one injection may list. */
export const MAX_TARGET_DEVICE_IDS = 100_000;

export const ANOMALY_STATES = ['scheduled', 'active', 'ended', 'cancelled'] as const;
export type AnomalyState = (typeof ANOMALY_STATES)[number];

/**
 * The part of a fleet an anomaly acts on (POST /api/v1/anomalies and backfills): filters that
 * all have to match; the whole fleet when none is given.
 */
export class AnomalyPlaceDto {
  /**
   * Only devices in this building (1-based). building, floor and room are filters that all
   * have to match: building + floor is one floor, building + floor + room one room, and
   * floor alone that floor of every building.
   * @example 1
   */
  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(MAX_BUILDINGS)
  building?: number;

  /**
   * Only devices on this floor (1-based).
   * @example 3
   */
  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(MAX_FLOORS)
  floor?: number;

  /**
   * Only devices in this room (1-based, numbered per floor).
   * @example 2
   */
  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(MAX_ROOMS)
  room?: number;

  /** Only these devices (ids of the fleet); combined with building/floor/room when given. */
  @IsOptional()
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(MAX_TARGET_DEVICE_IDS)
  @IsString({ each: true })
  deviceIds?: string[];
}

export class AnomalyTargetDto extends AnomalyPlaceDto {
  /**
   * Fleet the anomaly acts on.
   * @example "plant-a"
   */
  @IsString()
  fleetId!: string;
}

/**
 * What an anomaly does (POST /api/v1/anomalies and backfills): its kind, the sensor and the
 * strength. The sensor must suit the kind, and the magnitude both (anomaly.rules.ts checks):
 * each request schema that extends it states that with `anyOf: kindSensorBranches()`.
 */
export class AnomalyEffectDto {
  /**
   * Sensor the anomaly acts on; the fleet must carry it and the kind must apply to it
   * (flapping: switch only; overcurrent: current only; spike, drift, noise: numeric sensors;
   * stuck and dropout: any). A dropout silences the whole message whatever the sensor.
   * @example "temperature"
   */
  @IsIn(SENSOR_NAMES)
  sensor!: SensorName;

  /**
   * What happens to the readings: spike (constant offset), drift (offset growing to
   * magnitude over the duration), stuck (value frozen), dropout (no messages; seq still
   * advances), noise (spread multiplied), flapping (switch toggles every reading),
   * overcurrent (current offset).
   * @example "spike"
   */
  @IsIn(ANOMALY_KINDS)
  kind!: AnomalyKind;

  /**
   * Strength, in the sensor's unit for spike, drift (± the sensor's full range, not 0) and
   * overcurrent (more than 0, at most the range); a multiple of the sensor's sd for noise
   * (1 … 20). Not allowed for stuck, dropout and flapping. Defaults to a value that crosses
   * the sensor's alarm threshold (e.g. +30 °C for a temperature spike).
   * @example 40
   */
  @IsOptional()
  @IsNumber({ allowNaN: false, allowInfinity: false })
  magnitude?: number;
}

/** An anomaly to inject now or soon, on a fleet or part of it. */
@ApiSchemaRules({ anyOf: kindSensorBranches() })
export class CreateAnomalyDto extends AnomalyEffectDto {
  /** The fleet and the part of it the anomaly acts on. */
  @IsObject()
  @ValidateNested()
  @Type(() => AnomalyTargetDto)
  target!: AnomalyTargetDto;

  /**
   * How long the anomaly lasts, in ms (1000 … 86400000); the devices return to normal by
   * themselves afterwards.
   * @example 60000
   */
  @IsInt()
  @Min(MIN_ANOMALY_DURATION_MS)
  @Max(MAX_ANOMALY_DURATION_MS)
  durationMs!: number;

  /**
   * Delay before the anomaly starts, in ms (0 … 3600000); 0 (now) when omitted.
   * @example 0
   */
  @IsOptional()
  @IsInt()
  @Min(0)
  @Max(MAX_ANOMALY_START_IN_MS)
  startInMs?: number;
}

export class AnomalyQueryDto {
  /** Only anomalies of this fleet. */
  @IsOptional()
  @IsString()
  fleetId?: string;

  /** Only anomalies in this state. */
  @IsOptional()
  @IsIn(ANOMALY_STATES)
  state?: AnomalyState;
}

export class AnomalyDto {
  /**
   * Id of the anomaly; readings it shapes carry it in `anomaly.id`.
   * @example "inj-1"
   */
  id!: string;
  kind!: AnomalyKind;
  sensor!: SensorName;
  /** Strength in force (given or default); null for kinds without one. */
  magnitude!: number | null;
  /**
   * The target as injected; its deviceIds come back in ordinal order, each once, and in a
   * list only the first 100 of them (see deviceIdsTruncated).
   */
  target!: AnomalyTargetDto;
  /**
   * True (and present only then) in a list when target.deviceIds holds just the first 100 of
   * the target's device ids; GET /api/v1/anomalies/{id} returns them all.
   */
  deviceIdsTruncated?: boolean;
  /** Number of devices the anomaly was applied to when it was injected. */
  deviceCount!: number;
  /** Ids of the first 100 of those devices. */
  devices!: string[];
  /** Event time of the first reading it may shape (ISO-8601). */
  startsAt!: string;
  /** Event time from which readings are normal again (ISO-8601, exclusive). */
  endsAt!: string;
  /** scheduled (not started), active, ended (ran its course) or cancelled (ended early). */
  state!: AnomalyState;
  createdAt!: string;
  /** Name of the scenario that injected it; absent for anomalies injected over REST. */
  scenario?: string;
}

export class RandomAnomaliesDto {
  /** Random anomalies (simulation.anomalyRate) acting on devices now. */
  active!: number;
}

export class AnomalyListDto {
  /**
   * Injected anomalies that are scheduled or active, and the last 100 that ended or were
   * cancelled (older ones are forgotten), newest first; each lists at most 100 of its
   * target's device ids.
   */
  items!: AnomalyDto[];
  random!: RandomAnomaliesDto;
}
