import { Type } from 'class-transformer';
import {
  ArrayMinSize,
  ArrayUnique,
  IsArray,
  IsIn,
  IsInt,
  IsOptional,
  IsString,
  Matches,
  Max,
  MaxLength,
  Min,
  ValidateNested,
} from 'class-validator';
import { SENSOR_NAMES, type SensorName } from '../model/sensors/sensor.model.js';

/** A fleet's send interval when none is given, in ms. */
export const DEFAULT_INTERVAL_MS = 5000;

export class LayoutDto {
  /** Buildings on the site. */
  @IsInt()
  @Min(1)
  @Max(1000)
  buildings!: number;

  /** Floors in every building. */
  @IsInt()
  @Min(1)
  @Max(200)
  floorsPerBuilding!: number;

  /** Rooms on every floor. */
  @IsInt()
  @Min(1)
  @Max(1000)
  roomsPerFloor!: number;
}

/**
 * What defines a fleet to create, and its rules: the REST API's CreateFleetDto and the boot
 * fleets of the configuration (simulation.fleets) both take it.
 */
export class FleetSpecDto {
  /**
   * Human name of the fleet; its id is made from it (lower case, dashes).
   * @example "Plant A"
   */
  @IsString()
  @MaxLength(64)
  @Matches(/[A-Za-z0-9]/, { message: 'name must contain a letter or digit' })
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
   * Send interval of every device, in ms (≥ 100; 5000 when omitted).
   * @example 5000
   */
  @IsOptional()
  @IsInt()
  @Min(100)
  @Max(3_600_000)
  intervalMs?: number;

  /** Sensors every device carries; all five when omitted. */
  @IsOptional()
  @IsArray()
  @ArrayMinSize(1)
  @ArrayUnique()
  @IsIn(SENSOR_NAMES, { each: true })
  sensors?: SensorName[];

  /** Buildings, floors and rooms; derived from the device count when omitted. */
  @IsOptional()
  @ValidateNested()
  @Type(() => LayoutDto)
  layout?: LayoutDto;

  /**
   * Seed of every device's random stream (0 … 4294967295); random when omitted.
   * @example 42
   */
  @IsOptional()
  @IsInt()
  @Min(0)
  @Max(4_294_967_295)
  seed?: number;
}
