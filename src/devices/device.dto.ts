import { Type } from 'class-transformer';
import { IsInt, IsOptional, Max, Min } from 'class-validator';
import type { SensorName } from '../model/sensors/sensor.model.js';

export class DeviceQueryDto {
  /** 1-based page number. */
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  page?: number;

  /** Devices per page, 1 … 1000. */
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(1000)
  limit?: number;

  /** Only devices in this building. */
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  building?: number;

  /** Only devices on this floor. */
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  floor?: number;

  /** Only devices in this room. */
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  room?: number;
}

export class LocationDto {
  building!: number;
  floor!: number;
  room!: number;
}

export class AnomalyLabelDto {
  id!: string;
  kind!: string;
  sensor!: string;
}

export class ReadingDto {
  /** Sequence number of the reading (per device, from 0). */
  seq!: number;
  /** Event time (ISO-8601, ms). */
  ts!: string;
  /** False when the reading was silenced by a dropout anomaly. */
  sent!: boolean;
  /** Values keyed by sensor: numbers (°C, %, hPa, A) or a boolean for the switch. */
  readings!: Record<string, number | boolean>;
  anomaly!: AnomalyLabelDto | null;
}

export class DeviceDto {
  /** Device id: fleet, building, floor, room and number. */
  id!: string;
  fleetId!: string;
  /** 1-based number of the device in its fleet. */
  number!: number;
  location!: LocationDto;
  sensors!: SensorName[];
  /** Kafka partition of the device's messages (FNV-1a of the id modulo partitions). */
  partition!: number;
  /** Sequence number the next reading will carry. */
  nextSeq!: number;
  lastReading!: ReadingDto | null;
}

export class DevicePageDto {
  items!: DeviceDto[];
  page!: number;
  limit!: number;
  /** Devices matching the filter. */
  total!: number;
}
