import { Module } from '@nestjs/common';
import { ProducerModule } from '../producer/producer.module.js';
import { FleetRegistry } from './fleet.registry.js';
import { SimulationController } from './simulation.controller.js';
import { SimulationService } from './simulation.service.js';

@Module({
  imports: [ProducerModule],
  controllers: [SimulationController],
  providers: [FleetRegistry, SimulationService],
  exports: [FleetRegistry, SimulationService],
})
export class SimulationModule {}
