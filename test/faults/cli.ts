import { EmbeddedKafkaCluster } from '../../src/kafka/embedded-kafka.js';

/** `--name value` or `--name=value` from argv, else the default. */
export function flag(name: string, fallback: string): string {
  const args = process.argv.slice(2);
  for (let i = 0; i < args.length; i++) {
    if (args[i] === `--${name}`) return args[i + 1] ?? fallback;
    if (args[i].startsWith(`--${name}=`)) return args[i].slice(name.length + 3);
  }
  return fallback;
}

export const log = (m: string) => console.log(`[${new Date().toISOString().slice(11, 19)}] ${m}`);

/**
 * Starts the 3-broker embedded cluster for a fault run and makes sure it is stopped however
 * the run ends (Ctrl-C included).
 */
export async function startCluster(partitions: number): Promise<EmbeddedKafkaCluster> {
  const cluster = new EmbeddedKafkaCluster({ brokers: 3, partitions, log });
  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    void cluster.stop().finally(() => process.exit(130));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  await cluster.start();
  // The server helper reads the test brokers from here.
  process.env.KAFKA_BROKERS = cluster.brokers.join(',');
  return cluster;
}
