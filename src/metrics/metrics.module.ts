import { Global, Module } from '@nestjs/common';
import { PrometheusModule } from '@willsoto/nestjs-prometheus';
import { FleetsimMetrics } from './fleetsim.metrics.js';

@Global()
@Module({
  imports: [
    PrometheusModule.register({
      path: '/metrics',
      defaultMetrics: { enabled: true, config: { eventLoopMonitoringPrecision: 10 } },
    }),
  ],
  providers: [FleetsimMetrics],
  exports: [FleetsimMetrics],
})
export class MetricsModule {}
