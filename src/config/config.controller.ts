import { Body, Controller, Get, Headers, HttpStatus, Patch, Res } from '@nestjs/common';
import {
  ApiBody,
  ApiConsumes,
  ApiHeader,
  ApiOkResponse,
  ApiOperation,
  ApiTags,
} from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { ApiProblems } from '../http/api-problems.decorator.js';
import { classSchema, unknownNullKeys } from '../http/validation.schema.js';
import { DomainError } from '../model/domain.error.js';
import { FleetsimConfig } from './fleetsim.config.js';
import { ProblemException } from '../http/problem.js';
import { statusOf } from '../http/problem.filter.js';
import { ConfigViewDto } from './config.dto.js';
import { KAFKA_CLIENT_SETTING_NAMES } from './config.patch.js';
import { ConfigPatchService } from './config.patch.service.js';

/** The content type of a JSON merge patch (RFC 7396); app.factory registers its parser. */
export const MERGE_PATCH_CONTENT_TYPE = 'application/merge-patch+json';

@ApiTags('config')
@Controller('api/v1/config')
export class ConfigController {
  constructor(private readonly patches: ConfigPatchService) {}

  /** The configuration in force, where each setting came from, and what cannot change. */
  @Get()
  @ApiOkResponse({
    type: ConfigViewDto,
    description: 'The configuration in force',
    headers: {
      ETag: {
        description: 'The version; send it as If-Match to PATCH',
        schema: { type: 'string' },
      },
    },
  })
  @ApiProblems()
  get(@Res({ passthrough: true }) reply: FastifyReply): ConfigViewDto {
    const view = this.patches.view();
    void reply.header('etag', this.patches.etag(view.version));
    return view;
  }

  /** Change settings while running: a JSON merge patch, applied all or nothing. */
  @Patch()
  @ApiOperation({
    description:
      'A JSON merge patch (RFC 7396) of the configuration; `null` puts a setting back to its built-in default. ' +
      'The result is validated as a whole and applied all or nothing: simulation settings from the next tick, ' +
      `producer batching at once, and settings of the Kafka client (${KAFKA_CLIENT_SETTING_NAMES}) ` +
      'by connecting a new client that takes over the queue, losing nothing. ' +
      'Answers with the configuration now in force. docs/operations.md has the details.',
  })
  @ApiConsumes('application/merge-patch+json', 'application/json')
  @ApiBody({
    description: 'A JSON merge patch of the configuration (the shape of `config` in GET).',
    schema: {
      ...classSchema(FleetsimConfig, { mergePatch: true }),
      example: { producer: { lingerMs: 20, compression: 'none' } },
    },
  })
  @ApiOkResponse({
    type: ConfigViewDto,
    description: 'The configuration now in force',
    headers: { ETag: { description: 'The new version', schema: { type: 'string' } } },
  })
  @ApiProblems({
    400: 'Invalid in itself (not an object, an unknown key, a value of the wrong type or out of range, as the schema says); `errors` names each field and rule',
    409: 'The patch changes a setting that cannot change at runtime (see `immutable`)',
    413: true,
    415: 'The body is neither merge-patch+json nor JSON',
    422: 'Every value of the patch is valid, but the configuration it leaves breaks a rule between settings (`errors` names the field and rule): the boot fleets past limits.maxDevices (maxDevices) or limits.maxTargetRate (maxTargetRate), producer.bufferMemory past the memory the process may use (maxProcessMemory), producer.shutdownFlushMs past the grace period (withinGracePeriod), producer.batchSize past limits.maxBatchSize (maxBatchSize), kafka.tls.ca, cert or key without kafka.tls.enabled (enabledWithMaterial), a kafka.tls.cert without its key, a kafka.sasl.mechanism without its credentials, a `{fleetId}` kafka.topic with kafka.schemaRegistry.url set (schemaRegistrySubject)',
    412: 'If-Match names a version that is no longer in force',
    428: 'server.requireIfMatch is on and If-Match is missing',
    503: 'A new Kafka client was needed and could not connect; nothing was changed. Or, in cluster mode, the change was written to the control topic but not applied here within 15 s (its reader is down; it applies once the reader is back)',
  })
  @ApiHeader({
    name: 'if-match',
    required: false,
    description:
      'The ETag of GET /api/v1/config: the patch only applies to that version (412 otherwise); required (428) when server.requireIfMatch is on',
  })
  async patch(
    @Body() patch: unknown,
    @Res({ passthrough: true }) reply: FastifyReply,
    @Headers('content-type') contentType = '',
    @Headers('if-match') ifMatch?: string,
  ): Promise<ConfigViewDto> {
    const type = contentType.split(';')[0].trim().toLowerCase();
    if (type !== MERGE_PATCH_CONTENT_TYPE && type !== 'application/json') {
      throw new ProblemException(
        HttpStatus.UNSUPPORTED_MEDIA_TYPE,
        `send the patch as ${MERGE_PATCH_CONTENT_TYPE} or application/json, not ${type || 'no content type'}`,
      );
    }
    try {
      refuseUnknownNullKeys(patch);
      const view = await this.patches.patch(patch, ifMatch);
      void reply.header('etag', this.patches.etag(view.version));
      return view;
    } catch (err) {
      this.patches.refused(err, statusOf(err));
      throw err;
    }
  }
}

/** The shape a patch may have: the configuration's, every key optional (as in OpenAPI). */
const PATCH_SCHEMA = classSchema(FleetsimConfig, { mergePatch: true });

/** Refuses null keys the configuration does not know (validation cannot see them). */
function refuseUnknownNullKeys(patch: unknown): void {
  const unknown = unknownNullKeys(patch, PATCH_SCHEMA);
  if (!unknown.length) return;
  const problems = unknown.map((field) => ({
    field,
    rule: 'unknown',
    message: `${field} is not a known field`,
  }));
  throw new DomainError(
    'INVALID_INPUT',
    `nothing was changed: ${problems.map((p) => p.message).join('; ')}`,
    problems,
  );
}
