import 'reflect-metadata';
import { ValidationPipe } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { DocumentBuilder, type OpenAPIObject, SwaggerModule } from '@nestjs/swagger';
import { AppModule } from './app.module.js';
import { MERGE_PATCH_CONTENT_TYPE } from './config/config.controller.js';
import type { LoadedConfig } from './config/config.loader.js';
import { ConfigService } from './config/config.service.js';
import { registerAccessLog } from './http/access.log.js';
import { validationException } from './http/problem.js';
import { ProblemFilter } from './http/problem.filter.js';
import { registerRequestContext, requestIdOf } from './http/request.context.js';
import { KafkaTarget } from './kafka/kafka-target.js';
import { FleetsimLogger } from './logging/fleetsim.logger.js';
import { FleetsimMetrics } from './metrics/fleetsim.metrics.js';

export interface CreateAppOptions {
  /** False to boot without touching Kafka (OpenAPI generation). */
  connectKafka?: boolean;
  /** Log lines as JSON (default) or Nest's coloured text. */
  json?: boolean;
}

/** Builds the Nest application (not yet listening). */
export async function createApp(
  loaded: LoadedConfig,
  brokers: string[],
  embedded: boolean,
  options: CreateAppOptions = {},
): Promise<NestFastifyApplication> {
  const { config } = loaded;
  const adapter = new FastifyAdapter({
    bodyLimit: config.server.bodyLimitBytes,
    genReqId: requestIdOf,
  });
  const fastify = adapter.getInstance();
  registerRequestContext(fastify);
  registerAccessLog(fastify);
  fastify.addContentTypeParser(
    MERGE_PATCH_CONTENT_TYPE,
    { parseAs: 'string' },
    fastify.getDefaultJsonParser('error', 'error'),
  );
  const logger = new FleetsimLogger({ json: options.json ?? true, level: config.server.logLevel });
  const app = await NestFactory.create<NestFastifyApplication>(
    AppModule.forRoot(loaded, new KafkaTarget(brokers, embedded, options.connectKafka ?? true)),
    adapter,
    { logger, abortOnError: false },
  );
  app.get(ConfigService).onUpdated(({ previous, current }) => {
    if (current.server.logLevel !== previous.server.logLevel)
      logger.setLevel(current.server.logLevel);
  });
  app.get(FleetsimMetrics).watchHttpServer(fastify.server);
  app.useGlobalPipes(
    new ValidationPipe({
      whitelist: true,
      forbidNonWhitelisted: true,
      transform: true,
      exceptionFactory: validationException,
    }),
  );
  app.useGlobalFilters(new ProblemFilter(config.server.bodyLimitBytes));
  SwaggerModule.setup('docs', app, () => openApiDocument(app), {
    jsonDocumentUrl: 'docs/openapi.json',
  });
  return app;
}

/** The OpenAPI document of the app's routes. */
export function openApiDocument(app: NestFastifyApplication): OpenAPIObject {
  const config = new DocumentBuilder()
    .setTitle('fleetsim')
    .setDescription(
      'Simulates fleets of industrial IoT devices and streams their sensor readings into Apache Kafka. ' +
        'Errors are application/problem+json (RFC 9457).',
    )
    .setVersion('1')
    .setLicense('Apache-2.0', 'https://www.apache.org/licenses/LICENSE-2.0')
    .build();
  return SwaggerModule.createDocument(app, config, {
    operationIdFactory: (c, m) => `${c.replace(/Controller$/, '')}_${m}`,
  });
}
