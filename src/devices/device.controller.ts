import { Controller, Get, Param } from '@nestjs/common';
import { ApiOkResponse, ApiTags } from '@nestjs/swagger';
import { ApiProblems } from '../http/api-problems.decorator.js';
import { DeviceDto } from './device.dto.js';
import { DEVICE_EXAMPLE } from '../http/api-examples.js';
import { FleetService } from './fleet.service.js';

@ApiTags('devices')
@Controller('api/v1/devices')
export class DeviceController {
  constructor(private readonly fleets: FleetService) {}

  /** Get one device: its place, sensors, partition, last reading and seq. */
  @Get(':deviceId')
  @ApiOkResponse({
    type: DeviceDto,
    description: 'The device and its last reading',
    example: DEVICE_EXAMPLE,
  })
  @ApiProblems({ 404: 'No device with this id' })
  get(@Param('deviceId') deviceId: string): DeviceDto {
    return this.fleets.device(deviceId);
  }
}
