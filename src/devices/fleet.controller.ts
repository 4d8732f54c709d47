import { Body, Controller, Delete, Get, HttpCode, Param, Patch, Post, Query } from '@nestjs/common';
import {
  ApiBody,
  ApiCreatedResponse,
  ApiNoContentResponse,
  ApiOkResponse,
  ApiTags,
} from '@nestjs/swagger';
import { ApiProblems } from '../http/api-problems.decorator.js';
import { DevicePageDto, DeviceQueryDto } from './device.dto.js';
import { CreateFleetDto, FleetDto, UpdateFleetDto } from './fleet.dto.js';
import { FleetService } from './fleet.service.js';
import { DEVICE_PAGE_EXAMPLE, FLEET_EXAMPLE } from '../http/api-examples.js';

const NO_FLEET = 'No fleet with this id';

@ApiTags('fleets')
@Controller('api/v1/fleets')
export class FleetController {
  constructor(private readonly fleets: FleetService) {}

  /** Create a fleet; it starts streaming at once while the simulation runs. */
  @Post()
  @ApiBody({
    type: CreateFleetDto,
    examples: {
      small: { summary: 'A plant of 1,000 devices', value: { name: 'Plant A', deviceCount: 1000 } },
      full: {
        summary: 'Every setting',
        value: {
          name: 'Plant B',
          deviceCount: 120,
          intervalMs: 2000,
          sensors: ['temperature', 'pressure'],
          layout: { buildings: 2, floorsPerBuilding: 3, roomsPerFloor: 4 },
          seed: 7,
        },
      },
    },
  })
  @ApiCreatedResponse({
    type: FleetDto,
    description: 'The fleet, with its id, layout and seed',
    example: FLEET_EXAMPLE,
  })
  @ApiProblems({
    400: true,
    409: 'A fleet with the id made from this name already exists',
    413: true,
    415: true,
    422: 'The fleet would take fleetsim past its cap on devices',
  })
  create(@Body() dto: CreateFleetDto): FleetDto {
    return this.fleets.create(dto);
  }

  /** List fleets. */
  @Get()
  @ApiOkResponse({
    type: [FleetDto],
    description: 'Every fleet, oldest first',
    example: [FLEET_EXAMPLE],
  })
  @ApiProblems()
  list(): FleetDto[] {
    return this.fleets.list();
  }

  /** Get one fleet. */
  @Get(':id')
  @ApiOkResponse({ type: FleetDto, description: 'The fleet', example: FLEET_EXAMPLE })
  @ApiProblems({ 404: NO_FLEET })
  get(@Param('id') id: string): FleetDto {
    return this.fleets.get(id);
  }

  /** Scale a fleet or change its interval while it streams. */
  @Patch(':id')
  @ApiBody({
    type: UpdateFleetDto,
    examples: {
      scale: { summary: 'Scale to 5,000 devices', value: { deviceCount: 5000 } },
      retime: { summary: 'Send every second', value: { intervalMs: 1000 } },
    },
  })
  @ApiOkResponse({ type: FleetDto, description: 'The fleet as it is now', example: FLEET_EXAMPLE })
  @ApiProblems({
    400: 'Neither deviceCount nor intervalMs, a wrong type, a value out of range or an unknown field',
    404: NO_FLEET,
    413: true,
    415: true,
    422: 'The fleet would take fleetsim past its cap on devices',
  })
  update(@Param('id') id: string, @Body() dto: UpdateFleetDto): FleetDto {
    return this.fleets.update(id, dto);
  }

  /** Delete a fleet; its devices stop at once. */
  @Delete(':id')
  @HttpCode(204)
  @ApiNoContentResponse({ description: 'Deleted; its devices send nothing more' })
  @ApiProblems({ 404: NO_FLEET })
  delete(@Param('id') id: string): void {
    this.fleets.delete(id);
  }

  /** List a fleet's devices, a page at a time, optionally in one building, floor or room. */
  @Get(':id/devices')
  @ApiOkResponse({
    type: DevicePageDto,
    description: 'One page of the devices that match, in device number order',
    example: DEVICE_PAGE_EXAMPLE,
  })
  @ApiProblems({
    400: 'A query parameter is not an integer, out of range or unknown',
    404: NO_FLEET,
  })
  devices(@Param('id') id: string, @Query() query: DeviceQueryDto): DevicePageDto {
    return this.fleets.devices(id, query);
  }
}
