import { Controller, Get } from '@nestjs/common';
import { ApiOkResponse, ApiTags } from '@nestjs/swagger';
import { PRODUCER_EXAMPLE } from '../http/api-examples.js';
import { ApiProblems } from '../http/api-problems.decorator.js';
import { ProducerStatusDto } from './producer.dto.js';
import { ProducerService } from './producer.service.js';

@ApiTags('producer')
@Controller('api/v1/producer')
export class ProducerController {
  constructor(private readonly producer: ProducerService) {}

  /** Delivery accounting, buffer and circuit state of the Kafka producer. */
  @Get()
  @ApiOkResponse({
    type: ProducerStatusDto,
    description: 'The producer now',
    example: PRODUCER_EXAMPLE,
  })
  @ApiProblems()
  status(): ProducerStatusDto {
    return this.producer.status();
  }
}
