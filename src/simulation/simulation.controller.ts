import { Controller, Get, HttpCode, Post } from '@nestjs/common';
import { ApiOkResponse, ApiTags } from '@nestjs/swagger';
import { SIMULATION_EXAMPLE } from '../http/api-examples.js';
import {
  ApiProblems,
  BODYLESS_CHANGE_415,
  CONTROL_TOPIC_503,
} from '../http/api-problems.decorator.js';
import { SimulationStatusDto } from './simulation.dto.js';
import { SimulationService } from './simulation.service.js';

@ApiTags('simulation')
@Controller('api/v1/simulation')
export class SimulationController {
  constructor(private readonly simulation: SimulationService) {}

  /** State, fleets, devices, target rate and delivery counts. */
  @Get()
  @ApiOkResponse({
    type: SimulationStatusDto,
    description: 'The simulation now',
    example: SIMULATION_EXAMPLE,
  })
  @ApiProblems()
  status(): SimulationStatusDto {
    return this.simulation.status();
  }

  /** Resume producing readings. */
  @Post('start')
  @HttpCode(200)
  @ApiOkResponse({
    type: SimulationStatusDto,
    description: 'The simulation, running (starting a running one changes nothing)',
    example: SIMULATION_EXAMPLE,
  })
  @ApiProblems({ 415: BODYLESS_CHANGE_415, 503: CONTROL_TOPIC_503 })
  async start(): Promise<SimulationStatusDto> {
    await this.simulation.request(true);
    return this.simulation.status();
  }

  /** Pause producing readings; what is queued is still sent. */
  @Post('stop')
  @HttpCode(200)
  @ApiOkResponse({
    type: SimulationStatusDto,
    description: 'The simulation, stopped (stopping a stopped one changes nothing)',
    example: { ...SIMULATION_EXAMPLE, state: 'stopped' },
  })
  @ApiProblems({ 415: BODYLESS_CHANGE_415, 503: CONTROL_TOPIC_503 })
  async stop(): Promise<SimulationStatusDto> {
    await this.simulation.request(false);
    return this.simulation.status();
  }
}
