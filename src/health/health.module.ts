import { Module } from '@nestjs/common';
import { TerminusModule } from '@nestjs/terminus';
import { ProducerModule } from '../producer/producer.module.js';
import { HealthController } from './health.controller.js';

@Module({
  imports: [TerminusModule.forRoot({ logger: false }), ProducerModule],
  controllers: [HealthController],
})
export class HealthModule {}
