import { Module } from '@nestjs/common';
import { CLOCK, systemClock } from '../model/clock.js';
import { ProducerModule } from '../producer/producer.module.js';
import { ActiveScenario } from './active.scenario.js';
import { FleetRegistry } from './fleet.registry.js';
import { SimulationController } from './simulation.controller.js';
import { SchemaRegistryService } from './schema-registry.service.js';
import { SimulationService } from './simulation.service.js';

@Module({
  imports: [ProducerModule],
  controllers: [SimulationController],
  providers: [
    FleetRegistry,
    SimulationService,
    ActiveScenario,
    SchemaRegistryService,
    { provide: CLOCK, useValue: systemClock },
  ],
  exports: [FleetRegistry, SimulationService, ActiveScenario, SchemaRegistryService, CLOCK],
})
export class SimulationModule {}
