import { Body, Controller, Delete, Get, HttpCode, Param, Post, Res } from '@nestjs/common';
import { ApiResponse, ApiTags } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import {
  CreateScenarioDto,
  ScenarioDto,
  ScenarioRunDto,
  StartScenarioDto,
} from './scenario.dto.js';
import { ScenarioService } from './scenario.service.js';

@ApiTags('scenarios')
@Controller('api/v1/scenarios')
export class ScenarioController {
  constructor(private readonly scenarios: ScenarioService) {}

  /** List the scenario catalog: built-in and user-defined scenarios. */
  @Get()
  list(): ScenarioDto[] {
    return this.scenarios.list();
  }

  /** Define a scenario: a named plan of stages with overrides and anomalies. */
  @Post()
  @ApiResponse({
    status: 201,
    type: ScenarioDto,
    headers: { Location: { description: 'The URL of the new scenario' } },
  })
  async create(
    @Body() dto: CreateScenarioDto,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<ScenarioDto> {
    const scenario = await this.scenarios.submitCreate(dto);
    void reply.header('location', `/api/v1/scenarios/${encodeURIComponent(scenario.name)}`);
    return scenario;
  }

  /** Get one scenario and whether it runs. */
  @Get(':name')
  get(@Param('name') name: string): ScenarioDto {
    return this.scenarios.get(name);
  }

  /** Delete a user-defined scenario (stopping it if it runs). */
  @Delete(':name')
  @HttpCode(204)
  async delete(@Param('name') name: string): Promise<void> {
    await this.scenarios.submitDelete(name);
  }

  /** Start a scenario on one fleet or on every fleet, stopping the one that runs. */
  @Post(':name/start')
  @HttpCode(200)
  start(@Param('name') name: string, @Body() dto: StartScenarioDto): Promise<ScenarioRunDto> {
    return this.scenarios.submitStart(name, dto?.fleetId);
  }

  /** Stop a running scenario: overrides are cleared and its anomalies cancelled. */
  @Post(':name/stop')
  @HttpCode(200)
  stop(@Param('name') name: string): Promise<ScenarioRunDto> {
    return this.scenarios.submitStop(name);
  }
}
