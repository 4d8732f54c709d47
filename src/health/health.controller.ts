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

  /** Readiness: Kafka answers and the producer's circuit is not open. */
  @Get('ready')
  @HealthCheck()
  ready(): Promise<HealthCheckResult> {
    return this.health.check([
      async () => {
        const kafka = this.indicator.check('kafka');
        const reachable = await this.producer.reachable();
        const details = {
          topic: this.producer.sender.topic,
          partitions: this.producer.sender.partitionCount,
          ...(this.producer.lastConnectError ? { error: this.producer.lastConnectError } : {}),
        };
        return reachable ? kafka.up(details) : kafka.down(details);
      },
      () => {
        const circuit = this.indicator.check('producer');
        const state = this.producer.producer.breaker.state;
        return state === 'open' ? circuit.down({ circuit: state }) : circuit.up({ circuit: state });
      },
    ]);
  }
}
