import 'reflect-metadata';
import { ValidationPipe } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import type { FastifyRequest } from 'fastify';
import { DocumentBuilder, type OpenAPIObject, SwaggerModule } from '@nestjs/swagger';
import { AppModule } from './app.module.js';
import { ApiKeys } from './config/api-keys.js';
import { MERGE_PATCH_CONTENT_TYPE } from './config/config.controller.js';
import type { LoadedConfig } from './config/config.loader.js';
import { ConfigService } from './config/config.service.js';
import { registerAccessControl } from './http/access.control.js';
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
  const keys = loaded.apiKeys ?? new ApiKeys();
  await registerAccessControl(fastify, { keys, server: config.server });
  // An empty JSON body is no body: body-less actions may say application/json (and must,
  // without an API key; see access.control.ts).
  const json = fastify.getDefaultJsonParser('error', 'error');
  type Done = NonNullable<Parameters<typeof json>[2]>;
  const jsonOrEmpty = (request: FastifyRequest, body: string | Buffer, done: Done) =>
    body.length === 0 ? done(null, undefined) : json(request, body.toString(), done);
  fastify.addContentTypeParser(MERGE_PATCH_CONTENT_TYPE, { parseAs: 'string' }, jsonOrEmpty);
  const logger = new FleetsimLogger({ json: options.json ?? true, level: config.server.logLevel });
  if (keys.enabled) {
    logger.log(
      `API keys required: ${keys.identities.map((k) => `${k.id} (${k.role})`).join(', ')}`,
      'Security',
    );
  } else if (options.connectKafka ?? true) {
    logger.warn(
      'no API key is configured: changes (POST, PATCH, DELETE) are only taken from loopback clients. ' +
        'To use the API from elsewhere set FLEETSIM_API_KEYS=<id>:operate:<secret of 16+ characters> ' +
        '(or FLEETSIM_API_KEYS_FILE); docs/security.md',
      'Security',
    );
  }
  const app = await NestFactory.create<NestFastifyApplication>(
    AppModule.forRoot(loaded, new KafkaTarget(brokers, embedded, options.connectKafka ?? true)),
    adapter,
    { logger, abortOnError: false },
  );
  app.useBodyParser('application/json', { bodyLimit: config.server.bodyLimitBytes }, jsonOrEmpty);
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
    swaggerOptions: {
      persistAuthorization: true,
      // Body-less actions (POST …/start) go out as JSON, which fleetsim requires without a key.
      requestInterceptor: (req: { method: string; headers: Record<string, string> }) => {
        const method = req.method.toUpperCase();
        const hasType = Object.keys(req.headers).some((h) => h.toLowerCase() === 'content-type');
        if (method !== 'GET' && method !== 'HEAD' && !hasType)
          req.headers['Content-Type'] = 'application/json';
        return req;
      },
    },
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
    .addBearerAuth(
      {
        type: 'http',
        scheme: 'bearer',
        bearerFormat: 'API key',
        description: 'An API key: `Authorization: Bearer <key>`',
      },
      'bearer',
    )
    .addApiKey(
      {
        type: 'apiKey',
        in: 'header',
        name: 'x-api-key',
        description: 'An API key: `x-api-key: <key>`',
      },
      'apiKey',
    )
    .addSecurityRequirements('bearer')
    .addSecurityRequirements('apiKey')
    .build();
  const document = SwaggerModule.createDocument(app, config, {
    operationIdFactory: (c, m) => `${c.replace(/Controller$/, '')}_${m}`,
  });
  // Probes and scrapes need no key unless configured (server.auth): the key is optional there.
  for (const [path, item] of Object.entries(document.paths)) {
    if (!/^\/(health\/|metrics$)/.test(path)) continue;
    for (const op of Object.values(item) as Array<{ security?: unknown }>) {
      if (op && typeof op === 'object') op.security = [{}, { bearer: [] }, { apiKey: [] }];
    }
  }
  return document;
}
