import { Controller, Get } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import {
  HealthCheck,
  type HealthCheckResult,
  HealthCheckService,
  HealthIndicatorService,
} from '@nestjs/terminus';
import { ProducerService } from '../producer/producer.service.js';

@ApiTags('health')
@Controller('health')
export class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly indicator: HealthIndicatorService,
    private readonly producer: ProducerService,
  ) {}

  /** Liveness: the process is up and its event loop turns. */
  @Get('live')
  @HealthCheck()
  live(): Promise<HealthCheckResult> {
    return this.health.check([]);
  }

  /**
   * Readiness: Kafka answers, the producer's circuit is not open, and its sends are not all
   * refused for good (3 refused in a row, none acknowledged since: e.g. not authorized).
   */
  @Get('ready')
  @HealthCheck()
  ready(): Promise<HealthCheckResult> {
    return this.health.check([
      async () => {
        const kafka = this.indicator.check('kafka');
        const reachable = await this.producer.reachable();
        const { topic, partitions } = this.producer.topicInfo();
        const details = {
          topic,
          partitions,
          ...(this.producer.lastConnectError ? { error: this.producer.lastConnectError } : {}),
        };
        return reachable ? kafka.up(details) : kafka.down(details);
      },
      () => {
        const circuit = this.indicator.check('producer');
        const state = this.producer.circuit();
        return state === 'open' ? circuit.down({ circuit: state }) : circuit.up({ circuit: state });
      },
      () => {
        const delivery = this.indicator.check('delivery');
        const d = this.producer.delivery();
        const details = {
          consecutiveRefusals: d.consecutiveRefusals,
          ...(d.lastError ? { error: d.lastError } : {}),
        };
        return d.failing ? delivery.down(details) : delivery.up(details);
      },
    ]);
  }
}
