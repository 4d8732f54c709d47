import { Body, Controller, Delete, Get, HttpCode, Param, Post } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
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
  create(@Body() dto: CreateScenarioDto): Promise<ScenarioDto> {
    return this.scenarios.submitCreate(dto);
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
