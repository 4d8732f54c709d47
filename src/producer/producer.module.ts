import { Module } from '@nestjs/common';
import { ProducerController } from './producer.controller.js';
import { ProducerService } from './producer.service.js';

@Module({
  controllers: [ProducerController],
  providers: [ProducerService],
  exports: [ProducerService],
})
export class ProducerModule {}
