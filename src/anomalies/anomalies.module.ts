import { Module } from '@nestjs/common';
import { ProducerModule } from '../producer/producer.module.js';
import { ClusterModule } from '../cluster/cluster.module.js';
import { SimulationModule } from '../simulation/simulation.module.js';
import { AnomalyLabels } from './anomaly.labels.js';
import { AnomalyController } from './anomaly.controller.js';
import { AnomalyService } from './anomaly.service.js';

@Module({
  imports: [SimulationModule, ProducerModule, ClusterModule],
  controllers: [AnomalyController],
  providers: [AnomalyService, AnomalyLabels],
  exports: [AnomalyService, AnomalyLabels],
})
export class AnomaliesModule {}
