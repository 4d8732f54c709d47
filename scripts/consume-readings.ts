/**
 * Prints readings as they arrive in the topic (`npm run consume`), and the rate every few
 * seconds. KAFKA_BROKERS defaults to the embedded broker's address, KAFKA_TOPIC to fleetsim's.
 *   npm run consume            one line per reading
 *   npm run consume -- --rate  only the rate
 * (`npm run watch` is the old name, kept as an alias for now.)
 */
import { randomUUID } from 'node:crypto';
import kafkajs from 'kafkajs';
import '../src/kafka/kafkajs.patch.js';
import { registerCompressionCodecs } from '../src/producer/compression.codecs.js';

const brokers = (process.env.KAFKA_BROKERS || '127.0.0.1:9092').split(',');
const topic = process.env.KAFKA_TOPIC || 'fleetsim.readings';
const rateOnly = process.argv.includes('--rate');

// Topics written with snappy, lz4 or zstd: kafkajs ships only gzip.
registerCompressionCodecs();
const kafka = new kafkajs.Kafka({
  clientId: 'fleetsim-consume',
  brokers,
  logLevel: kafkajs.logLevel.NOTHING,
});
const consumer = kafka.consumer({ groupId: `fleetsim-consume-${randomUUID()}` });
let count = 0;
let last = Date.now();

await consumer.connect();
await consumer.subscribe({ topic, fromBeginning: false });
console.log(`watching ${topic} on ${brokers.join(',')} (Ctrl-C to stop)`);
setInterval(() => {
  const now = Date.now();
  console.log(`-- ${((count * 1000) / (now - last)).toFixed(0)} readings/s`);
  count = 0;
  last = now;
}, 5000).unref();
await consumer.run({
  eachBatch: async ({ batch }) => {
    count += batch.messages.length;
    if (rateOnly) return;
    for (const m of batch.messages) console.log(`p${batch.partition} ${m.value?.toString()}`);
  },
});
const stop = async () => {
  await consumer.disconnect();
  process.exit(0);
};
process.once('SIGINT', () => void stop());
process.once('SIGTERM', () => void stop());
