import { Module } from '@nestjs/common';
import { AnomaliesModule } from '../anomalies/anomalies.module.js';
import { ProducerModule } from '../producer/producer.module.js';
import { ScenariosModule } from '../scenarios/scenarios.module.js';
import { SimulationModule } from '../simulation/simulation.module.js';
import { BackfillController } from './backfill.controller.js';
import { BackfillService } from './backfill.service.js';

@Module({
  imports: [SimulationModule, ProducerModule, AnomaliesModule, ScenariosModule],
  controllers: [BackfillController],
  providers: [BackfillService],
})
export class BackfillModule {}
