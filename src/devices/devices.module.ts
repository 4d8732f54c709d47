import { Module } from '@nestjs/common';
import { ClusterModule } from '../cluster/cluster.module.js';
import { ProducerModule } from '../producer/producer.module.js';
import { SimulationModule } from '../simulation/simulation.module.js';
import { DeviceController } from './device.controller.js';
import { FleetController } from './fleet.controller.js';
import { FleetService } from './fleet.service.js';

@Module({
  imports: [SimulationModule, ProducerModule, ClusterModule],
  controllers: [FleetController, DeviceController],
  providers: [FleetService],
  exports: [FleetService],
})
export class DevicesModule {}
