import { Body, Controller, Delete, Get, HttpCode, Param, Post, Query, Res } from '@nestjs/common';
import { ApiBody, ApiNoContentResponse, ApiOkResponse, ApiTags } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { ANOMALY_EXAMPLE, ANOMALY_LIST_EXAMPLE } from '../http/api-examples.js';
import {
  ApiProblems,
  BODYLESS_CHANGE_415,
  CONTROL_TOPIC_503,
} from '../http/api-problems.decorator.js';
import { ApiCreated, setLocation } from '../http/created.js';
import { AnomalyDto, AnomalyListDto, AnomalyQueryDto, CreateAnomalyDto } from './anomaly.dto.js';
import { AnomalyService } from './anomaly.service.js';

const NO_ANOMALY = 'No injected anomaly with this id';

@ApiTags('anomalies')
@Controller('api/v1/anomalies')
export class AnomalyController {
  constructor(private readonly anomalies: AnomalyService) {}

  /** Inject an anomaly into a fleet, a building, a floor, a room or listed devices. */
  @Post()
  @ApiBody({
    type: CreateAnomalyDto,
    examples: {
      floor: {
        summary: 'A +40 °C spike on one floor for a minute',
        value: {
          target: { fleetId: 'plant-a', building: 1, floor: 2 },
          sensor: 'temperature',
          kind: 'spike',
          magnitude: 40,
          durationMs: 60000,
        },
      },
      devices: {
        summary: 'Two devices go silent in 10 s, for 30 s',
        value: {
          target: { fleetId: 'plant-a', deviceIds: ['plant-a.b1.f1.r1.d1', 'plant-a.b1.f1.r2.d2'] },
          sensor: 'temperature',
          kind: 'dropout',
          durationMs: 30000,
          startInMs: 10000,
        },
      },
    },
  })
  @ApiCreated({
    what: 'anomaly',
    type: AnomalyDto,
    description: 'The anomaly, scheduled or already active',
    example: ANOMALY_EXAMPLE,
  })
  @ApiProblems({
    503: CONTROL_TOPIC_503,
    400: 'Malformed, or the kind does not apply to the sensor, or the magnitude is out of its range for the sensor, or the fleet does not carry the sensor; `errors` names each field and rule',
    404: 'No fleet with target.fleetId',
    413: true,
    415: true,
    422: 'target.deviceIds lists devices that are not in the fleet, the target matches no device, or too many anomalies are live',
  })
  async create(
    @Body() dto: CreateAnomalyDto,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<AnomalyDto> {
    const anomaly = await this.anomalies.submit(dto);
    setLocation(reply, '/api/v1/anomalies', anomaly.id);
    return anomaly;
  }

  /** List injected anomalies (scheduled, active and the last 100 ended) and count random ones. */
  @Get()
  @ApiOkResponse({
    type: AnomalyListDto,
    description: 'The anomalies that match, newest first',
    example: ANOMALY_LIST_EXAMPLE,
  })
  @ApiProblems({ 400: 'state is not a known state, or an unknown query parameter' })
  list(@Query() query: AnomalyQueryDto): AnomalyListDto {
    return this.anomalies.list(query);
  }

  /** Get one injected anomaly and its state. */
  @Get(':id')
  @ApiOkResponse({ type: AnomalyDto, description: 'The anomaly', example: ANOMALY_EXAMPLE })
  @ApiProblems({ 404: NO_ANOMALY })
  get(@Param('id') id: string): AnomalyDto {
    return this.anomalies.get(id);
  }

  /** Cancel an anomaly: its devices are normal again from now on. */
  @Delete(':id')
  @HttpCode(204)
  @ApiNoContentResponse({ description: 'Cancelled (or it had already ended)' })
  @ApiProblems({ 404: NO_ANOMALY, 415: BODYLESS_CHANGE_415, 503: CONTROL_TOPIC_503 })
  async cancel(@Param('id') id: string): Promise<void> {
    await this.anomalies.withdraw(id);
  }
}
