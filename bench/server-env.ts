import { randomUUID } from 'node:crypto';

/**
 * The fleetsim settings every server the bench runs gets (Part 2's in-process app and Part
 * 2b's `node dist/src/main.js`): its broker and fresh topic, block backpressure, the readings'
 * anomaly rate and trends, no global cap on the target rate (the flat-out runs schedule far
 * more than limits.maxTargetRate on purpose: backpressure, not the schedule, sets their rate),
 * and a cluster of its own (cluster mode, the default; runs share one broker).
 */
export function benchServerEnv(spec: {
  brokers: string[];
  topic: string;
  partitions: number;
  acks: number;
  compression: string;
}): Record<string, string> {
  return {
    LOG_LEVEL: 'warn',
    PORT: '0',
    HOST: '127.0.0.1',
    KAFKA_BROKERS: spec.brokers.join(','),
    KAFKA_TOPIC: spec.topic,
    KAFKA_TOPIC_PARTITIONS: String(spec.partitions),
    KAFKA_ACKS: String(spec.acks),
    KAFKA_COMPRESSION: spec.compression,
    FLEETSIM_BACKPRESSURE: 'block',
    FLEETSIM_ANOMALY_RATE: '0.01',
    FLEETSIM_TREND_ENABLED: 'true',
    FLEETSIM_MAX_TARGET_RATE: '10000000',
    FLEETSIM_CLUSTER_NAME: `bench-${randomUUID().slice(0, 8)}`,
  };
}
