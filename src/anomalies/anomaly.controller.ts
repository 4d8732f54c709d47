import { Body, Controller, Delete, Get, HttpCode, Param, Post, Query } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import { AnomalyDto, AnomalyListDto, AnomalyQueryDto, CreateAnomalyDto } from './anomaly.dto.js';
import { AnomalyService } from './anomaly.service.js';

@ApiTags('anomalies')
@Controller('api/v1/anomalies')
export class AnomalyController {
  constructor(private readonly anomalies: AnomalyService) {}

  /** Inject an anomaly into a fleet, a building, a floor, a room or listed devices. */
  @Post()
  create(@Body() dto: CreateAnomalyDto): Promise<AnomalyDto> {
    return this.anomalies.submit(dto);
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
