import { Controller, Get } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import { ProducerStatusDto } from './producer.dto.js';
import { ProducerService } from './producer.service.js';

@ApiTags('producer')
@Controller('api/v1/producer')
export class ProducerController {
  constructor(private readonly producer: ProducerService) {}

  /** Delivery accounting, buffer and circuit state of the Kafka producer. */
  @Get()
  status(): ProducerStatusDto {
    return this.producer.status();
  }
}
