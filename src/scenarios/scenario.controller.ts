import {
  Body,
  Controller,
  Delete,
  Get,
  HttpCode,
  HttpStatus,
  Param,
  Post,
  Req,
  Res,
} from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { ApiBody, ApiNoContentResponse, ApiOkResponse, ApiTags } from '@nestjs/swagger';
import { SCENARIO_EXAMPLE, SCENARIO_RUN_EXAMPLE } from '../http/api-examples.js';
import {
  ApiProblems,
  BODYLESS_CHANGE_415,
  CONTROL_TOPIC_503,
} from '../http/api-problems.decorator.js';
import { ApiCreated, setLocation } from '../http/created.js';
import { ProblemException } from '../http/problem.js';
import {
  CreateScenarioDto,
  ScenarioDto,
  ScenarioRunDto,
  StartScenarioDto,
} from './scenario.dto.js';
import { ScenarioService } from './scenario.service.js';

const NO_SCENARIO = 'No scenario with this name';

@ApiTags('scenarios')
@Controller('api/v1/scenarios')
export class ScenarioController {
  constructor(private readonly scenarios: ScenarioService) {}

  /** List the scenario catalog: built-in and user-defined scenarios. */
  @Get()
  @ApiOkResponse({
    type: [ScenarioDto],
    description: 'Built-in scenarios first, then user-defined ones',
    example: [SCENARIO_EXAMPLE],
  })
  @ApiProblems()
  list(): ScenarioDto[] {
    return this.scenarios.list();
  }

  /** Define a scenario: a named plan of stages with overrides and anomalies. */
  @Post()
  @ApiBody({
    type: CreateScenarioDto,
    examples: {
      nightShift: {
        summary: 'A quiet stage, then a fault on the first floor',
        value: {
          name: 'night-shift',
          description: 'Quiet night, then a compressor fault on the first floor',
          stages: [
            { name: 'quiet', durationMs: 60000, overrides: { dataVariation: 0.2 } },
            {
              name: 'fault',
              durationMs: 120000,
              anomalies: [{ kind: 'spike', sensor: 'temperature', magnitude: 25, floor: 1 }],
            },
          ],
        },
      },
    },
  })
  @ApiCreated({
    what: 'scenario',
    type: ScenarioDto,
    description: 'The scenario, in the catalog',
    example: SCENARIO_EXAMPLE,
  })
  @ApiProblems({
    503: CONTROL_TOPIC_503,
    400: 'Malformed, or a stage anomaly whose kind does not apply to its sensor or whose magnitude is out of range; `errors` names each field and rule',
    409: 'A scenario with this name exists',
    413: true,
    415: true,
    422: 'The catalog holds as many user-defined scenarios as it keeps',
  })
  async create(
    @Body() dto: CreateScenarioDto,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<ScenarioDto> {
    const scenario = await this.scenarios.submitCreate(dto);
    setLocation(reply, '/api/v1/scenarios', scenario.name);
    return scenario;
  }

  /** Get one scenario and whether it runs. */
  @Get(':name')
  @ApiOkResponse({ type: ScenarioDto, description: 'The scenario', example: SCENARIO_EXAMPLE })
  @ApiProblems({ 404: NO_SCENARIO })
  get(@Param('name') name: string): ScenarioDto {
    return this.scenarios.get(name);
  }

  /** Delete a user-defined scenario (stopping it if it runs). */
  @Delete(':name')
  @HttpCode(204)
  @ApiNoContentResponse({ description: 'Deleted' })
  @ApiProblems({
    503: CONTROL_TOPIC_503,
    404: NO_SCENARIO,
    409: 'A built-in scenario cannot be deleted',
    415: BODYLESS_CHANGE_415,
  })
  async delete(@Param('name') name: string): Promise<void> {
    await this.scenarios.submitDelete(name);
  }

  /** Start a scenario on one fleet or on every fleet, stopping the one that runs. */
  @Post(':name/start')
  @HttpCode(200)
  @ApiBody({
    type: StartScenarioDto,
    required: false,
    description: 'Optional: without a body (or with `{}`) the scenario runs on every fleet',
    examples: {
      everyFleet: { summary: 'On every fleet', value: {} },
      oneFleet: { summary: 'On one fleet', value: { fleetId: 'plant-a' } },
    },
  })
  @ApiOkResponse({
    type: ScenarioRunDto,
    description: 'The run, at its first stage',
    example: SCENARIO_RUN_EXAMPLE,
  })
  @ApiProblems({
    503: CONTROL_TOPIC_503,
    400: 'The body is not an object, or has an unknown field or a wrong type',
    404: NO_SCENARIO,
    413: true,
    415: BODYLESS_CHANGE_415,
    409: 'Cluster mode: another start replaced this one before it took effect',
    422: 'No fleet with fleetId',
  })
  start(
    @Param('name') name: string,
    @Body() dto: StartScenarioDto,
    @Req() request: FastifyRequest,
  ): Promise<ScenarioRunDto> {
    // No body means every fleet; a JSON null is not an object (the ValidationPipe turns it
    // into an empty DTO, so the raw body is looked at).
    if (request.body === null) {
      throw new ProblemException(HttpStatus.BAD_REQUEST, 'the body must be a JSON object', {
        errors: [{ field: 'body', rule: 'isObject', message: 'the body must be a JSON object' }],
      });
    }
    return this.scenarios.submitStart(name, dto?.fleetId);
  }

  /** Stop a running scenario: overrides are cleared and its anomalies cancelled. */
  @Post(':name/stop')
  @HttpCode(200)
  @ApiOkResponse({
    type: ScenarioRunDto,
    description: 'The run, stopped',
    example: { ...SCENARIO_RUN_EXAMPLE, state: 'stopped' },
  })
  @ApiProblems({
    503: CONTROL_TOPIC_503,
    404: NO_SCENARIO,
    409: 'The scenario is not running',
    415: BODYLESS_CHANGE_415,
  })
  stop(@Param('name') name: string): Promise<ScenarioRunDto> {
    return this.scenarios.submitStop(name);
  }
}
