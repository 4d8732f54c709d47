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
import { ApiHeader, ApiResponse, ApiTags } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { etagOf } from '../model/etag.js';
import { DevicePageDto, DeviceQueryDto } from './device.dto.js';
import { CreateFleetDto, FleetDto, UpdateFleetDto } from './fleet.dto.js';
import { FleetService } from './fleet.service.js';

@ApiTags('fleets')
@Controller('api/v1/fleets')
export class FleetController {
  constructor(private readonly fleets: FleetService) {}

  /** Create a fleet; it starts streaming at once while the simulation runs. */
  @Post()
  @ApiResponse({
    status: 201,
    type: FleetDto,
    headers: {
      Location: { description: 'The URL of the new fleet' },
      ETag: { description: 'Its version' },
    },
  })
  async create(
    @Body() dto: CreateFleetDto,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<FleetDto> {
    const fleet = await this.fleets.create(dto);
    void reply
      .header('location', `/api/v1/fleets/${encodeURIComponent(fleet.id)}`)
      .header('etag', etagOf(fleet));
    return fleet;
  }

  /** List fleets. */
  @Get()
  list(): FleetDto[] {
    return this.fleets.list();
  }

  /** Get one fleet. */
  @Get(':id')
  @ApiResponse({
    status: 200,
    type: FleetDto,
    headers: { ETag: { description: 'The version; send it as If-Match to PATCH' } },
  })
  get(@Param('id') id: string, @Res({ passthrough: true }) reply: FastifyReply): FleetDto {
    const fleet = this.fleets.get(id);
    void reply.header('etag', etagOf(fleet));
    return fleet;
  }

  /** Scale a fleet or change its interval while it streams. */
  @Patch(':id')
  @ApiHeader({
    name: 'If-Match',
    required: false,
    description:
      'The ETag of GET /api/v1/fleets/{id}: the change only applies to that version (412 otherwise); required (428) when server.requireIfMatch is on',
  })
  @ApiResponse({ status: 412, description: 'If-Match names a version that is no longer current' })
  @ApiResponse({ status: 428, description: 'server.requireIfMatch is on and If-Match is missing' })
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
  delete(@Param('id') id: string): Promise<void> {
    return this.fleets.delete(id);
  }

  /** List a fleet's devices, a page at a time, optionally in one building, floor or room. */
  @Get(':id/devices')
  devices(@Param('id') id: string, @Query() query: DeviceQueryDto): DevicePageDto {
    return this.fleets.devices(id, query);
  }
}
