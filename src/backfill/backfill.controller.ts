import { Body, Controller, Delete, Get, Param, Post } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import { BackfillDto, CreateBackfillDto } from './backfill.dto.js';
import { BackfillService } from './backfill.service.js';

@ApiTags('backfills')
@Controller('api/v1/backfills')
export class BackfillController {
  constructor(private readonly backfills: BackfillService) {}

  /**
   * Start a backfill: every reading a fleet makes with event times in [from, to), produced
   * as fast as the pace and the producer allow, beside live streaming.
   */
  @Post()
  create(@Body() dto: CreateBackfillDto): BackfillDto {
    return this.backfills.create(dto);
  }

  /** List backfills, newest first (the running ones and the last 100 finished). */
  @Get()
  list(): BackfillDto[] {
    return this.backfills.list();
  }

  /** A backfill's state, progress and the offsets it wrote. */
  @Get(':id')
  get(@Param('id') id: string): BackfillDto {
    return this.backfills.get(id);
  }

  /** Cancel a running backfill: no more readings are made (those made are still sent). */
  @Delete(':id')
  cancel(@Param('id') id: string): BackfillDto {
    return this.backfills.cancel(id);
  }
}
