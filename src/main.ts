import { createApp } from './app.factory.js';
import { isWorker, runPrimary, workerCount } from './cluster/workers.js';
import { ConfigError, loadConfig } from './config/config.loader.js';
import { FleetService } from './devices/fleet.service.js';
import type { EmbeddedKafka } from './kafka/embedded-kafka.js';
import { FleetsimLogger } from './logging/fleetsim.logger.js';
import { missingNodeFlags } from './runtime/node.flags.js';

const logger = new FleetsimLogger({ json: process.env.LOG_FORMAT !== 'text', context: 'fleetsim' });

async function main(): Promise<void> {
  let loaded;
  try {
    loaded = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      logger.error(err.message);
      process.exit(2);
    }
    throw err;
  }
  const { config } = loaded;
  const missing = missingNodeFlags();
  if (missing.length > 0) {
    logger.log(
      `node was started without ${missing.join(' ')} (npm start and the Docker image pass it): ` +
        'under load expect more full garbage collections, hence more event-loop delay (src/runtime/node.flags.ts)',
    );
  }
  let workers = 1;
  try {
    workers = isWorker() ? 1 : workerCount(process.env.FLEETSIM_WORKERS);
  } catch (err) {
    logger.error((err as Error).message);
    process.exit(2);
  }

  let embedded: EmbeddedKafka | undefined;
  let brokers = config.kafka.brokers;
  if (brokers.length === 0) {
    logger.log('no brokers configured (KAFKA_BROKERS): starting an embedded Apache Kafka');
    // Loaded only here: it brings kafkajs (its admin client), which a fleetsim producing with
    // @platformatic/kafka to a broker of its own never needs.
    const { EmbeddedKafka, EmbeddedKafkaError } = await import('./kafka/embedded-kafka.js');
    embedded = new EmbeddedKafka({
      port: config.kafka.embedded.port,
      heap: config.kafka.embedded.heap,
      partitions: config.kafka.topicPartitions,
      log: (m) => logger.log(m),
    });
    try {
      brokers = await embedded.start();
    } catch (err) {
      await embedded.stop().catch(() => {});
      if (err instanceof EmbeddedKafkaError) {
        logger.error(err.message);
        process.exit(3);
      }
      throw err;
    }
  }

  if (workers > 1) {
    // The primary only starts the broker (if embedded) and the workers, which form one cluster.
    runPrimary({
      workers,
      env: { KAFKA_BROKERS: brokers.join(','), FLEETSIM_CLUSTER: 'true' },
      log: (m) => logger.log(m),
      stopped: async () => {
        if (embedded) await embedded.stop();
        logger.log('fleetsim stopped', { exitCode: 0 });
      },
    });
    logger.log(`started ${workers} workers in cluster ${config.cluster.name}`, { workers });
    return;
  }

  const app = await createApp(loaded, brokers, embedded !== undefined, {
    json: process.env.LOG_FORMAT !== 'text',
  });

  let closing = false;
  const shutdown = async (signal: string) => {
    if (closing) return;
    closing = true;
    logger.log(`${signal} received: stopping the scheduler and flushing the producer`, {
      signal,
    });
    let code = 0;
    try {
      await app.close();
    } catch (err) {
      code = 1;
      logger.error(`shutdown failed: ${err instanceof Error ? (err.stack ?? err.message) : err}`);
    } finally {
      if (embedded) {
        await embedded.stop();
        logger.log('embedded Kafka stopped');
      }
      logger.log('fleetsim stopped', { exitCode: code });
      process.exit(code);
    }
  };
  process.once('SIGTERM', () => void shutdown('SIGTERM'));
  process.once('SIGINT', () => void shutdown('SIGINT'));

  await app.listen({ port: config.server.port, host: config.server.host });
  const fleets = app.get(FleetService);
  await fleets.boot(config.simulation.fleets);
  const url = await app.getUrl();
  logger.log(
    `fleetsim listening on ${url} (Swagger UI at /docs, metrics at /metrics); ` +
      `Kafka ${brokers.join(',')}${embedded ? ' (embedded)' : ''}, topic ${config.kafka.topic}`,
    { url, brokers, embedded: embedded !== undefined, topic: config.kafka.topic },
  );
}

main().catch((err) => {
  logger.error(err instanceof Error ? (err.stack ?? err.message) : String(err));
  process.exit(1);
});
