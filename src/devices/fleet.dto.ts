import { IsInt, IsOptional, Max, Min } from 'class-validator';
import { FleetSpecDto, LayoutDto } from '../config/fleet-spec.dto.js';
import type { SensorName } from '../model/sensors/sensor.model.js';

export { LayoutDto };

/** The body of POST /api/v1/fleets: the rules are FleetSpecDto's, shared with boot fleets. */
export class CreateFleetDto extends FleetSpecDto {}

export class UpdateFleetDto {
  /** New number of devices: growing adds the next ids, shrinking removes the highest. */
  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(100_000)
  deviceCount?: number;

  /** New send interval in ms (≥ 100). */
  @IsOptional()
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
