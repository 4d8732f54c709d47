import { Module } from '@nestjs/common';
import { ProducerModule } from '../producer/producer.module.js';
import { SimulationModule } from '../simulation/simulation.module.js';
import { ClusterService } from './cluster.service.js';

@Module({
  imports: [SimulationModule, ProducerModule],
  providers: [ClusterService],
  exports: [ClusterService],
})
export class ClusterModule {}
