import { Type } from 'class-transformer';
import {
  ArrayMinSize,
  ArrayUnique,
  IsArray,
  IsIn,
  IsInt,
  IsString,
  Matches,
  Max,
  MaxLength,
  Min,
  ValidateNested,
} from 'class-validator';
import { ApiSchemaRules } from '../http/openapi.js';
import { IsOmittable } from '../http/validation.schema.js';
import { SENSOR_NAMES, type SensorName } from '../simulation/sensors/sensor.model.js';

/** Largest layout: buildings on a site, floors in a building, rooms on a floor. */
export const MAX_BUILDINGS = 1000;
export const MAX_FLOORS = 200;
export const MAX_ROOMS = 1000;

export class LayoutDto {
  /** Buildings on the site. */
  @IsInt()
  @Min(1)
  @Max(MAX_BUILDINGS)
  buildings!: number;

  /** Floors in every building. */
  @IsInt()
  @Min(1)
  @Max(MAX_FLOORS)
  floorsPerBuilding!: number;

  /** Rooms on every floor. */
  @IsInt()
  @Min(1)
  @Max(MAX_ROOMS)
  roomsPerFloor!: number;
}

export class CreateFleetDto {
  /**
   * Human name of the fleet; its id is made from it (lower case, dashes).
   * @example "Plant A"
   */
  @IsString()
  @MaxLength(64)
  @Matches(/[A-Za-z0-9]/, {
    message: 'name must contain a Latin letter or a digit (A-Z, 0-9): the fleet id is made of them',
  })
  name!: string;

  /**
   * Number of devices, 1 … 100000.
   * @example 1000
   */
  @IsInt()
  @Min(1)
  @Max(100_000)
  deviceCount!: number;

  /**
   * Send interval of every device, in ms (≥ 100).
   * @example 5000
   */
  @IsOmittable()
  @IsInt()
  @Min(100)
  @Max(3_600_000)
  intervalMs?: number;

  /** Sensors every device carries; all five when omitted. */
  @IsOmittable()
  @IsArray()
  @ArrayMinSize(1)
  @ArrayUnique()
  @IsIn(SENSOR_NAMES, { each: true })
  sensors?: SensorName[];

  /** Buildings, floors and rooms; derived from the device count when omitted. */
  @IsOmittable()
  @ValidateNested()
  @Type(() => LayoutDto)
  layout?: LayoutDto;

  /**
   * Seed of every device's random stream (0 … 4294967295); random when omitted.
   * @example 42
   */
  @IsOmittable()
  @IsInt()
  @Min(0)
  @Max(4_294_967_295)
  seed?: number;
}

/** Needs deviceCount, intervalMs or both (FleetService.update refuses `{}`). */
@ApiSchemaRules({ minProperties: 1 })
export class UpdateFleetDto {
  /** New number of devices: growing adds the next ids, shrinking removes the highest. */
  @IsOmittable()
  @IsInt()
  @Min(1)
  @Max(100_000)
  deviceCount?: number;

  /** New send interval in ms (≥ 100). */
  @IsOmittable()
  @IsInt()
  @Min(100)
  @Max(3_600_000)
  intervalMs?: number;
}

export class FleetDto {
  /** Fleet id, made from its name. */
  id!: string;
  name!: string;
  deviceCount!: number;
  intervalMs!: number;
  sensors!: SensorName[];
  layout!: LayoutDto;
  /** Seed of the devices' random streams; the same seed reproduces the same data. */
  seed!: number;
  /** Messages per second the fleet emits (deviceCount / interval). */
  targetRate!: number;
  createdAt!: string;
}
