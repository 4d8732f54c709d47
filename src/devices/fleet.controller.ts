import { Body, Controller, Delete, Get, HttpCode, Param, Patch, Post, Query } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import { DevicePageDto, DeviceQueryDto } from './device.dto.js';
import { CreateFleetDto, FleetDto, UpdateFleetDto } from './fleet.dto.js';
import { FleetService } from './fleet.service.js';

@ApiTags('fleets')
@Controller('api/v1/fleets')
export class FleetController {
  constructor(private readonly fleets: FleetService) {}

  /** Create a fleet; it starts streaming at once while the simulation runs. */
  @Post()
  create(@Body() dto: CreateFleetDto): Promise<FleetDto> {
    return this.fleets.create(dto);
  }

  /** List fleets. */
  @Get()
  list(): FleetDto[] {
    return this.fleets.list();
  }

  /** Get one fleet. */
  @Get(':id')
  get(@Param('id') id: string): FleetDto {
    return this.fleets.get(id);
  }

  /** Scale a fleet or change its interval while it streams. */
  @Patch(':id')
  update(@Param('id') id: string, @Body() dto: UpdateFleetDto): Promise<FleetDto> {
    return this.fleets.update(id, dto);
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
