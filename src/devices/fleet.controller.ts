import {
  Body,
  Controller,
  Delete,
  Get,
  Headers,
  HttpCode,
  Param,
  Patch,
  Post,
  Query,
  Res,
} from '@nestjs/common';
import { ApiBody, ApiHeader, ApiNoContentResponse, ApiOkResponse, ApiTags } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import {
  ApiProblems,
  BODYLESS_CHANGE_415,
  CONTROL_TOPIC_503,
} from '../http/api-problems.decorator.js';
import { ApiCreated, setLocation } from '../http/created.js';
import { etagOf } from '../model/etag.js';
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
  @ApiCreated({
    what: 'fleet',
    type: FleetDto,
    description: 'The fleet, with its id, layout and seed',
    example: FLEET_EXAMPLE,
    headers: { ETag: { description: 'Its version', schema: { type: 'string' } } },
  })
  @ApiProblems({
    503: CONTROL_TOPIC_503,
    400: true,
    409: 'A fleet with the id made from this name already exists',
    413: true,
    415: true,
    422: 'The fleet would take fleetsim past limits.maxDevices or limits.maxTargetRate; `limit` is the limit',
  })
  async create(
    @Body() dto: CreateFleetDto,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<FleetDto> {
    const fleet = await this.fleets.create(dto);
    setLocation(reply, '/api/v1/fleets', fleet.id);
    void reply.header('etag', etagOf(fleet));
    return fleet;
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
  @ApiOkResponse({
    type: FleetDto,
    description: 'The fleet',
    example: FLEET_EXAMPLE,
    headers: {
      ETag: {
        description: 'The version; send it as If-Match to PATCH',
        schema: { type: 'string' },
      },
    },
  })
  @ApiProblems({ 404: NO_FLEET })
  get(@Param('id') id: string, @Res({ passthrough: true }) reply: FastifyReply): FleetDto {
    const fleet = this.fleets.get(id);
    void reply.header('etag', etagOf(fleet));
    return fleet;
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
  @ApiOkResponse({
    type: FleetDto,
    description: 'The fleet as it is now',
    example: FLEET_EXAMPLE,
    headers: { ETag: { description: 'Its new version', schema: { type: 'string' } } },
  })
  @ApiProblems({
    503: CONTROL_TOPIC_503,
    400: 'Neither deviceCount nor intervalMs, a wrong type, a value out of range or an unknown field',
    404: NO_FLEET,
    413: true,
    415: true,
    412: 'If-Match names a version that is no longer current',
    422: 'The fleet would take fleetsim past limits.maxDevices or limits.maxTargetRate; `limit` is the limit',
    428: 'server.requireIfMatch is on and If-Match is missing',
  })
  @ApiHeader({
    name: 'if-match',
    required: false,
    description:
      'The ETag of GET /api/v1/fleets/{id}: the change only applies to that version (412 otherwise); required (428) when server.requireIfMatch is on',
  })
  async update(
    @Param('id') id: string,
    @Body() dto: UpdateFleetDto,
    @Res({ passthrough: true }) reply: FastifyReply,
    @Headers('if-match') ifMatch?: string,
  ): Promise<FleetDto> {
    const fleet = await this.fleets.update(id, dto, ifMatch);
    void reply.header('etag', etagOf(fleet));
    return fleet;
  }

  /** Delete a fleet; its devices stop at once. */
  @Delete(':id')
  @HttpCode(204)
  @ApiNoContentResponse({ description: 'Deleted; its devices send nothing more' })
  @ApiProblems({ 404: NO_FLEET, 415: BODYLESS_CHANGE_415, 503: CONTROL_TOPIC_503 })
  delete(@Param('id') id: string): Promise<void> {
    return this.fleets.delete(id);
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
