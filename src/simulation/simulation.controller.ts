import { Controller, Get, HttpCode, Post } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import { SimulationStatusDto } from './simulation.dto.js';
import { SimulationService } from './simulation.service.js';

@ApiTags('simulation')
@Controller('api/v1/simulation')
export class SimulationController {
  constructor(private readonly simulation: SimulationService) {}

  /** State, fleets, devices, target rate and delivery counts. */
  @Get()
  status(): SimulationStatusDto {
    return this.simulation.status();
  }

  /** Resume producing readings. */
  @Post('start')
  @HttpCode(200)
  async start(): Promise<SimulationStatusDto> {
    await this.simulation.request(true);
    return this.simulation.status();
  }

  /** Pause producing readings; what is queued is still sent. */
  @Post('stop')
  @HttpCode(200)
  async stop(): Promise<SimulationStatusDto> {
    await this.simulation.request(false);
    return this.simulation.status();
  }
}
