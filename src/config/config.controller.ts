import { Body, Controller, Get, Headers, HttpStatus, Patch } from '@nestjs/common';
import { ApiBody, ApiConsumes, ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
import { ProblemException } from '../http/problem.js';
import { ConfigViewDto } from './config.dto.js';
import { ConfigPatchService } from './config.patch.service.js';

/** The content type of a JSON merge patch (RFC 7396); app.factory registers its parser. */
export const MERGE_PATCH_CONTENT_TYPE = 'application/merge-patch+json';

@ApiTags('config')
@Controller('api/v1/config')
export class ConfigController {
  constructor(private readonly patches: ConfigPatchService) {}

  /** The configuration in force, where each setting came from, and what cannot change. */
  @Get()
  get(): ConfigViewDto {
    return this.patches.view();
  }

  /** Change settings while running: a JSON merge patch, applied all or nothing. */
  @Patch()
  @ApiOperation({
    description:
      'A JSON merge patch (RFC 7396) of the configuration; `null` puts a setting back to its built-in default. ' +
      'The result is validated as a whole and applied all or nothing: simulation settings from the next tick, ' +
      'producer batching at once, and settings of the Kafka client (topic, clientId, kafka.tls, kafka.sasl, requiredAcks, compression, ' +
      'idempotent, maxInFlightRequests) by connecting a new client that takes over the queue, losing nothing. ' +
      'Answers with the configuration now in force. docs/operations.md has the details.',
  })
  @ApiConsumes('application/merge-patch+json', 'application/json')
  @ApiBody({
    description: 'A JSON merge patch of the configuration (the shape of `config` in GET).',
    schema: { type: 'object', example: { producer: { lingerMs: 20, compression: 'none' } } },
  })
  @ApiResponse({
    status: 400,
    description:
      'Not an object, unknown key, wrong type or out of range: problem+json whose `errors` name each field and rule',
  })
  @ApiResponse({ status: 415, description: 'The body is neither merge-patch+json nor JSON' })
  @ApiResponse({
    status: 409,
    description: 'The patch changes a setting that cannot change at runtime (see `immutable`)',
  })
  @ApiResponse({
    status: 503,
    description: 'A new Kafka client was needed and could not connect; nothing was changed',
  })
  patch(@Body() patch: unknown, @Headers('content-type') contentType = ''): Promise<ConfigViewDto> {
    const type = contentType.split(';')[0].trim().toLowerCase();
    if (type !== MERGE_PATCH_CONTENT_TYPE && type !== 'application/json') {
      throw new ProblemException(
        HttpStatus.UNSUPPORTED_MEDIA_TYPE,
        `send the patch as ${MERGE_PATCH_CONTENT_TYPE} or application/json, not ${type || 'no content type'}`,
      );
    }
    return this.patches.patch(patch);
  }
}
