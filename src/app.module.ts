import { type DynamicModule, Module } from '@nestjs/common';
import { AnomaliesModule } from './anomalies/anomalies.module.js';
import { BackfillModule } from './backfill/backfill.module.js';
import type { LoadedConfig } from './config/config.loader.js';
import { ConfigModule } from './config/config.module.js';
import { DevicesModule } from './devices/devices.module.js';
import { HealthModule } from './health/health.module.js';
import { KafkaTarget } from './kafka/kafka-target.js';
import { MetricsModule } from './metrics/metrics.module.js';
import { ProducerModule } from './producer/producer.module.js';
import { ScenariosModule } from './scenarios/scenarios.module.js';
import { SimulationModule } from './simulation/simulation.module.js';
import { ProducerMetrics } from './wiring/producer.metrics.js';

@Module({})
export class AppModule {
  static forRoot(loaded: LoadedConfig, target: KafkaTarget): DynamicModule {
    return {
      module: AppModule,
      imports: [
        ConfigModule.forRoot(loaded),
        KafkaTargetModule.forRoot(target),
        MetricsModule,
        ProducerModule,
        SimulationModule,
        DevicesModule,
        AnomaliesModule,
        ScenariosModule,
        BackfillModule,
        HealthModule,
      ],
      providers: [ProducerMetrics],
    };
  }
}

@Module({})
class KafkaTargetModule {
  static forRoot(target: KafkaTarget): DynamicModule {
    return {
      module: KafkaTargetModule,
      global: true,
      providers: [{ provide: KafkaTarget, useValue: target }],
      exports: [KafkaTarget],
    };
  }
}
