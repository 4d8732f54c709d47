import { Body, Controller, Delete, Get, Param, Post, Res } from '@nestjs/common';
import { ApiBody, ApiOkResponse, ApiTags } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { BACKFILL_EXAMPLE } from '../http/api-examples.js';
import { ApiProblems, BODYLESS_CHANGE_415 } from '../http/api-problems.decorator.js';
import { ApiCreated, setLocation } from '../http/created.js';
import { BackfillDto, CreateBackfillDto } from './backfill.dto.js';
import { BackfillService } from './backfill.service.js';

const NO_BACKFILL = 'No backfill with this id';

@ApiTags('backfills')
@Controller('api/v1/backfills')
export class BackfillController {
  constructor(private readonly backfills: BackfillService) {}

  /**
   * Start a backfill: every reading a fleet makes with event times in [from, to), produced
   * as fast as the pace and the producer allow, beside live streaming.
   */
  @Post()
  @ApiBody({
    type: CreateBackfillDto,
    examples: {
      day: {
        summary: 'One day of an existing fleet, as fast as Kafka takes it',
        value: { fleetId: 'plant-a', from: '2026-03-01T00:00:00Z', to: '2026-03-02T00:00:00Z' },
      },
      anomaly: {
        summary: 'A fleet of its own, an hour a minute, with a spike at 14:00',
        value: {
          fleet: { name: 'History', deviceCount: 100, seed: 7 },
          from: '2026-03-01T00:00:00Z',
          to: '2026-03-02T00:00:00Z',
          pace: 60,
          anomalies: [
            {
              sensor: 'temperature',
              kind: 'spike',
              magnitude: 30,
              startsAt: '2026-03-01T14:00:00Z',
              durationMs: 600000,
            },
          ],
        },
      },
    },
  })
  @ApiCreated({
    what: 'backfill',
    type: BackfillDto,
    description: 'The backfill, running',
    example: BACKFILL_EXAMPLE,
  })
  @ApiProblems({
    400: 'Malformed: a wrong type or a value out of range, neither or both of fleetId and fleet, an anomaly whose kind does not suit its sensor or magnitude; `errors` names each field and rule',
    404: 'No fleet with fleetId, or no scenario with scenario.name',
    413: true,
    415: true,
    422: 'A rule between fields no schema states (`errors` names the field and rule): `to` not after `from` (after), over 366 days (maxRange) or too many readings (maxReadings), an anomaly or the scenario starting outside [from, to) (inRange); an anomaly on a sensor the fleet does not carry or whose target matches no device of it; or as many backfills run as fleetsim runs at once',
  })
  create(
    @Body() dto: CreateBackfillDto,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): BackfillDto {
    const backfill = this.backfills.create(dto);
    setLocation(reply, '/api/v1/backfills', backfill.id);
    return backfill;
  }

  /** List backfills, newest first (the running ones and the last 100 finished). */
  @Get()
  @ApiOkResponse({
    type: [BackfillDto],
    description: 'The backfills, newest first',
    example: [BACKFILL_EXAMPLE],
  })
  @ApiProblems()
  list(): BackfillDto[] {
    return this.backfills.list();
  }

  /** A backfill's state, progress and the offsets it wrote. */
  @Get(':id')
  @ApiOkResponse({ type: BackfillDto, description: 'The backfill', example: BACKFILL_EXAMPLE })
  @ApiProblems({ 404: NO_BACKFILL })
  get(@Param('id') id: string): BackfillDto {
    return this.backfills.get(id);
  }

  /** Cancel a running backfill: no more readings are made (those made are still sent). */
  @Delete(':id')
  @ApiOkResponse({
    type: BackfillDto,
    description: 'The backfill, cancelled (or as it ended, if it had)',
    example: { ...BACKFILL_EXAMPLE, state: 'cancelled', finishedAt: '2026-06-01T09:31:00.000Z' },
  })
  @ApiProblems({ 404: NO_BACKFILL, 415: BODYLESS_CHANGE_415 })
  cancel(@Param('id') id: string): BackfillDto {
    return this.backfills.cancel(id);
  }
}
