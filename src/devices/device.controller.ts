import { Controller, Get, Param } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import { DeviceDto } from './device.dto.js';
import { FleetService } from './fleet.service.js';

@ApiTags('devices')
@Controller('api/v1/devices')
export class DeviceController {
  constructor(private readonly fleets: FleetService) {}

  /** Get one device: its place, sensors, partition, last reading and seq. */
  @Get(':deviceId')
  get(@Param('deviceId') deviceId: string): DeviceDto {
    return this.fleets.device(deviceId);
  }
}
