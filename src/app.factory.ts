import 'reflect-metadata';
import { ConsoleLogger, type LogLevel, ValidationPipe } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { DocumentBuilder, type OpenAPIObject, SwaggerModule } from '@nestjs/swagger';
import { AppModule } from './app.module.js';
import type { LoadedConfig } from './config/config.loader.js';
import type { LogLevelName } from './config/fleetsim.config.js';
import { validationException } from './http/problem.js';
import { ProblemFilter } from './http/problem.filter.js';
import { KafkaTarget } from './kafka/kafka-target.js';

const LOG_LEVELS: Record<LogLevelName, LogLevel[]> = {
  error: ['fatal', 'error'],
  warn: ['fatal', 'error', 'warn'],
  info: ['fatal', 'error', 'warn', 'log'],
  debug: ['fatal', 'error', 'warn', 'log', 'debug'],
};

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
  const adapter = new FastifyAdapter({ bodyLimit: config.server.bodyLimitBytes });
  const app = await NestFactory.create<NestFastifyApplication>(
    AppModule.forRoot(loaded, new KafkaTarget(brokers, embedded, options.connectKafka ?? true)),
    adapter,
    {
      logger: new ConsoleLogger({
        json: options.json ?? true,
        logLevels: LOG_LEVELS[config.server.logLevel],
      }),
      abortOnError: false,
    },
  );
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
