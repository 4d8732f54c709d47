import { Module } from '@nestjs/common';
import { AnomaliesModule } from '../anomalies/anomalies.module.js';
import { ClusterModule } from '../cluster/cluster.module.js';
import { SimulationModule } from '../simulation/simulation.module.js';
import { ScenarioController } from './scenario.controller.js';
import { ScenarioService } from './scenario.service.js';

@Module({
  imports: [SimulationModule, AnomaliesModule, ClusterModule],
  controllers: [ScenarioController],
  providers: [ScenarioService],
  exports: [ScenarioService],
})
export class ScenariosModule {}
