import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { createApp } from '../../src/app.factory.js';
import { loadConfig } from '../../src/config/config.loader.js';
import { ProducerService } from '../../src/producer/producer.service.js';
import { testBrokers } from './kafka.js';

export interface TestApp {
  app: NestFastifyApplication;
  url: string;
  close(): Promise<void>;
  /** Resolves when nothing is queued or in flight in the producer. */
  drained(): Promise<void>;
}

/**
 * Starts the real server on a free port against the test broker. `env` holds the same
 * variables an operator would set (KAFKA_TOPIC, FLEETSIM_AUTOSTART, …).
 */
export async function startApp(
  env: Record<string, string> = {},
  options: {
    waitForKafka?: boolean;
    /** Interface to listen on; 127.0.0.1 by default. */ host?: string;
  } = {},
): Promise<TestApp> {
  const brokers = env.KAFKA_BROKERS?.split(',') ?? testBrokers();
  const loaded = loadConfig({
    LOG_LEVEL: 'error',
    PORT: '0',
    HOST: '127.0.0.1',
    KAFKA_BROKERS: brokers.join(','),
    // The engine under test: `npm test` runs the producer contract files once per engine.
    ...(process.env.KAFKA_CLIENT ? { KAFKA_CLIENT: process.env.KAFKA_CLIENT } : {}),
    // Every app is a cluster of its own unless the test names one: all test files share one
    // broker, and apps of one default cluster would share fleets and split the partitions.
    FLEETSIM_CLUSTER_NAME: uniqueClusterName(),
    ...env,
  });
  const app = await createApp(loaded, brokers, false, { json: true });
  await app.listen({ port: 0, host: options.host ?? '127.0.0.1' });
  if (options.waitForKafka ?? true) await app.get(ProducerService).ready();
  const port = (app.getHttpServer().address() as AddressInfo).port;
  const url = options.host ? `http://127.0.0.1:${port}` : await app.getUrl();
  return {
    app,
    url,
    close: () => app.close(),
    drained: () => app.get(ProducerService).idle(),
  };
}

/** JSON over HTTP with the real fetch; returns status, content type and parsed body. */
export async function http(
  base: string,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<{ status: number; type: string; body: any; headers: Headers }> {
  // Changes go out as JSON even without a body: without an API key fleetsim requires it.
  const json = body !== undefined || ['POST', 'PUT', 'PATCH', 'DELETE'].includes(method);
  const res = await fetch(`${base}${path}`, {
    method,
    headers: json ? { 'content-type': 'application/json', ...headers } : headers,
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    // not JSON: keep the text
  }
  return {
    status: res.status,
    type: res.headers.get('content-type') ?? '',
    body: parsed,
    headers: res.headers,
  };
}

/** Polls `check` every 50 ms until it returns a value other than undefined, or fails after `ms`. */
export async function waitFor<T>(
  what: string,
  check: () => Promise<T | undefined> | T | undefined,
  ms = 30_000,
): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A cluster name no other test app uses (its control topic starts empty). */
export function uniqueClusterName(): string {
  return `test-${randomUUID().slice(0, 8)}`;
}
