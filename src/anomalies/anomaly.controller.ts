import { Body, Controller, Delete, Get, HttpCode, Param, Post, Query, Res } from '@nestjs/common';
import { ApiResponse, ApiTags } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { AnomalyDto, AnomalyListDto, AnomalyQueryDto, CreateAnomalyDto } from './anomaly.dto.js';
import { AnomalyService } from './anomaly.service.js';

@ApiTags('anomalies')
@Controller('api/v1/anomalies')
export class AnomalyController {
  constructor(private readonly anomalies: AnomalyService) {}

  /** Inject an anomaly into a fleet, a building, a floor, a room or listed devices. */
  @Post()
  @ApiResponse({
    status: 201,
    type: AnomalyDto,
    headers: { Location: { description: 'The URL of the new anomaly' } },
  })
  async create(
    @Body() dto: CreateAnomalyDto,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<AnomalyDto> {
    const anomaly = await this.anomalies.submit(dto);
    void reply.header('location', `/api/v1/anomalies/${encodeURIComponent(anomaly.id)}`);
    return anomaly;
  }

  /** List injected anomalies (scheduled, active and the last 100 ended) and count random ones. */
  @Get()
  list(@Query() query: AnomalyQueryDto): AnomalyListDto {
    return this.anomalies.list(query);
  }

  /** Get one injected anomaly and its state. */
  @Get(':id')
  get(@Param('id') id: string): AnomalyDto {
    return this.anomalies.get(id);
  }

  /** Cancel an anomaly: its devices are normal again from now on. */
  @Delete(':id')
  @HttpCode(204)
  async cancel(@Param('id') id: string): Promise<void> {
    await this.anomalies.withdraw(id);
  }
}
