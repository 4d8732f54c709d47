import { Module } from '@nestjs/common';
import { ClusterModule } from '../cluster/cluster.module.js';
import { SimulationModule } from '../simulation/simulation.module.js';
import { AnomalyController } from './anomaly.controller.js';
import { AnomalyService } from './anomaly.service.js';

@Module({
  imports: [SimulationModule, ClusterModule],
  controllers: [AnomalyController],
  providers: [AnomalyService],
  exports: [AnomalyService],
})
export class AnomaliesModule {}
