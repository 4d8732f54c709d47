/**
 * The per-reading path without Kafka, for CPU profiles of fleetsim's own work on a busy
 * machine: scheduler → generator → JSON serializer → BatchingProducer → the request encoding
 * of the platformatic sender (record.batch.ts, as the connection frames it), with every batch
 * acknowledged at once. Prints CPU µs per acknowledged message (process CPU time, so other
 * processes on the machine inflate it less than they do a rate), min and median of the rounds.
 *
 *   node dist/bench/hotpath.js [rounds] [ms per round] [devices per fleet]
 *   node --cpu-prof --cpu-prof-dir=bench/results/profiles dist/bench/hotpath.js
 *
 * 10 fleets × 10,000 devices (fewer devices per fleet keep the devices' state in the CPU
 * caches, which shows what memory costs the hot path), a simulated clock 10 ms a step (no waiting: as fast as the CPU
 * goes), at most 20,000 messages queued, default producer settings, headers on.
 */
import { Writer } from '@platformatic/kafka';
import { Histogram } from 'prom-client';
import type { Clock } from '../src/model/clock.js';
import { deriveLayout } from '../src/model/layout.js';
import { Fleet } from '../src/model/fleet.js';
import { SENSOR_NAMES } from '../src/model/sensors/sensor.model.js';
import { BatchingProducer } from '../src/producer/batching.producer.js';
import type { OutgoingRecord } from '../src/producer/outgoing.record.js';
import { type BatchLane, EncodePool, produceRequest } from '../src/producer/record.batch.js';
import { ALL_SENT, byLane } from '../src/producer/sender.js';
import { ReadingPipeline } from '../src/simulation/reading.pipeline.js';
import { Scheduler } from '../src/simulation/scheduler.js';

const PARTITIONS = 6;
const rounds = Number(process.argv[2] ?? 5);
const roundMs = Number(process.argv[3] ?? 3000);
const devicesPerFleet = Number(process.argv[4] ?? 10_000);

const pool = new EncodePool();
const sender = {
  topic: 'bench',
  partition: (hash: number) => hash % PARTITIONS,
  prepareTopic: async () => {},
  async send(records: OutgoingRecord[]) {
    const lanes: BatchLane[] = [];
    for (const [topic, groups] of byLane(records, 'bench')) {
      for (const [partition, list] of groups) {
        lanes.push({ topic, partition, records: list, firstSequence: 0 });
      }
    }
    const space = pool.space();
    const body = await produceRequest(1, 30_000, lanes, { compression: 'none' }, undefined, space);
    // What the connection does with it: header, then one buffer for the socket.
    const request = Writer.create()
      .appendInt16(0)
      .appendInt16(11)
      .appendInt32(1)
      .appendString('bench', false)
      .appendTaggedFields()
      .appendFrom(body)
      .prependLength();
    if (request.buffer.length === 0) throw new Error('empty request');
    space.release();
    await new Promise((resolve) => setImmediate(resolve));
    return ALL_SENT;
  },
};
const producer = new BatchingProducer(sender, {
  batchSize: 1000,
  batchBytes: 1024 * 1024,
  lingerMs: 5,
  bufferMemory: 32 * 1024 * 1024,
  maxInFlightRequests: 5,
  maxRetries: 5,
  retryBackoffMs: 100,
  backpressure: 'block',
});
const histogram = (name: string) =>
  new Histogram({ name, help: name, buckets: [1e-6, 1e-5, 1e-4, 1e-3, 0.01, 0.1, 1, 10] });
const pipeline = new ReadingPipeline(
  producer,
  { serialization: histogram('bench_serialization') },
  {
    valueFormat: 'json',
    backpressure: 'block',
    headers: true,
    topic: 'bench',
    params: { dataVariation: 1, trendEnabled: true, trendStrength: 0.5, anomalyRate: 0.01 },
  },
);
let now = Date.UTC(2026, 0, 1);
const clock: Clock = {
  now: () => now,
  setTimeout,
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};
const scheduler = new Scheduler(clock, pipeline.sink, {
  tickMs: 10,
  maxPerTick: 5000,
  lag: histogram('bench_lag'),
});
const fleets: Fleet[] = [];
for (let i = 0; i < 10; i++) {
  const fleet = new Fleet({
    id: `bench-${i}`,
    name: `bench-${i}`,
    deviceCount: devicesPerFleet,
    intervalMs: 1000,
    sensors: [...SENSOR_NAMES],
    layout: deriveLayout(devicesPerFleet),
    seed: 1000 + i,
  });
  fleets.push(fleet);
  scheduler.add(fleet);
}
pipeline.recompute(fleets);

/** One round: CPU µs per acknowledged message. */
async function round(ms: number): Promise<number> {
  const acked = producer.stats.acknowledged;
  const cpu = process.cpuUsage();
  const t0 = performance.now();
  while (performance.now() - t0 < ms) {
    now += 10;
    const result = scheduler.tick(now);
    if (result.held || producer.stats.queued > 20_000) {
      await new Promise((resolve) => setImmediate(resolve));
    }
  }
  await producer.flush();
  const used = process.cpuUsage(cpu);
  return (used.user + used.system) / (producer.stats.acknowledged - acked);
}

await round(2000); // warm-up: JIT, every device's first reading (keys, JSON parts)
const results: number[] = [];
for (let i = 0; i < rounds; i++) results.push(await round(roundMs));
results.sort((a, b) => a - b);
console.log(
  `hot path without Kafka: ${results[0].toFixed(2)} µs CPU per acknowledged message (min of ${rounds}), median ${results[Math.floor(rounds / 2)].toFixed(2)}; ${producer.stats.acknowledged} messages, books ${producer.stats.balanced() ? 'balanced' : 'NOT balanced'}`,
);
