import 'reflect-metadata';
import { ValidationPipe } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { type OpenAPIObject, SwaggerModule } from '@nestjs/swagger';
import { AppModule } from './app.module.js';
import { ApiKeys } from './config/api-keys.js';
import { MERGE_PATCH_CONTENT_TYPE } from './config/config.controller.js';
import type { LoadedConfig } from './config/config.loader.js';
import { ConfigService } from './config/config.service.js';
import { registerAccessControl } from './http/access.control.js';
import { registerAccessLog } from './http/access.log.js';
import { registerJsonParser } from './http/json-body.js';
import { registerMethodNotAllowed } from './http/method-not-allowed.js';
import { buildOpenApiDocument } from './http/openapi.js';
import { PROBLEM_CONTENT_TYPE, validationException } from './http/problem.js';
import { ProblemFilter, problemOf } from './http/problem.filter.js';
import { registerRequestContext, requestIdOf } from './http/request.context.js';
import { KafkaTarget } from './kafka/kafka-target.js';
import { FleetsimLogger } from './logging/fleetsim.logger.js';
import { FleetsimMetrics } from './metrics/fleetsim.metrics.js';
import { loadEngine } from './producer/engines.js';

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
    // Ids longer than Fastify's default of 100 characters are unknown ids (404), not 414.
    routerOptions: { maxParamLength: MAX_PARAM_LENGTH },
    // A malformed URL (bad percent-encoding) is a 400 problem like any other.
    frameworkErrors: (error: FastifyError, request: FastifyRequest, reply: FastifyReply) => {
      const status = error.statusCode ?? 400;
      const path = request.url.split('?')[0];
      void reply
        .status(status)
        .header('x-request-id', request.id)
        .header('content-type', PROBLEM_CONTENT_TYPE)
        .send(problemOf(status, error.message, path, { requestId: request.id }));
    },
  });
  const fastify = adapter.getInstance();
  registerRequestContext(fastify);
  registerAccessLog(fastify);
  const keys = loaded.apiKeys ?? new ApiKeys();
  // CORS preflights, API keys, the rate limit and content types come first; then 405s.
  await registerAccessControl(fastify, { keys, server: config.server });
  registerMethodNotAllowed(fastify);
  // JSON bodies (depth limit, no prototype keys); an empty one is no body: body-less actions
  // may say application/json (and must, without an API key; see access.control.ts).
  registerJsonParser(fastify, [MERGE_PATCH_CONTENT_TYPE]);
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
  // The producer builds its sender as the app is created: the kafkajs engine's modules are
  // loaded only when it is the one configured (or a configuration change switches to it).
  await loadEngine(config.kafka.client);
  const app = await NestFactory.create<NestFastifyApplication>(
    AppModule.forRoot(loaded, new KafkaTarget(brokers, embedded, options.connectKafka ?? true)),
    adapter,
    // JSON bodies are parsed by registerJsonParser (depth limit), not by Nest's own parser.
    { logger, abortOnError: false, bodyParser: false },
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

/** Longer than any URL Node's HTTP parser accepts (16 KiB of headers). */
const MAX_PARAM_LENGTH = 16_384;

/** The OpenAPI document of the app's routes (src/http/openapi.ts). */
export function openApiDocument(app: NestFastifyApplication): OpenAPIObject {
  return buildOpenApiDocument(app);
}
