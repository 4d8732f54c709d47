import { Controller, Get, Global, Module, Res } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import { PrometheusController, PrometheusModule } from '@willsoto/nestjs-prometheus';
import { FleetsimMetrics } from './fleetsim.metrics.js';

/** /metrics, in Prometheus' text format: for scrapers, not part of the API document. */
@ApiExcludeController()
@Controller()
export class MetricsController extends PrometheusController {
  @Get()
  override index(@Res({ passthrough: true }) response: unknown): Promise<string> {
    return super.index(response);
  }
}

@Global()
@Module({
  imports: [
    PrometheusModule.register({
      path: '/metrics',
      controller: MetricsController,
      defaultMetrics: { enabled: true, config: { eventLoopMonitoringPrecision: 10 } },
    }),
  ],
  providers: [FleetsimMetrics],
  exports: [FleetsimMetrics],
})
export class MetricsModule {}
