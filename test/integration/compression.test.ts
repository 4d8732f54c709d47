/**
 * Every compression fleetsim offers, against the real broker and the real Java client:
 *   fleetsim's sender → broker → kafkajs consumer (fleetsim's codecs)          byte for byte
 *   fleetsim's sender → broker → Apache Kafka Java consumer                    byte for byte
 *   Apache Kafka Java producer → broker → kafkajs consumer (fleetsim's codecs) byte for byte
 * and the broker's log holds the batches compressed. The sender is the engine under test
 * (KAFKA_CLIENT; `npm test` runs this file for each): kafkajs with fleetsim's codecs, or
 * @platformatic/kafka with its own. The Java side is test/interop/KafkaInterop.java, run once
 * with the broker's own jars.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { CompressionName, KafkaClientName } from '../../src/config/fleetsim.config.js';
import { Fleet } from '../../src/model/fleet.js';
import { deriveLayout } from '../../src/model/layout.js';
import { provisionKafkaJars } from '../../src/kafka/embedded-kafka.js';
import { projectRoot } from '../../src/kafka/project-root.js';
import {
  type KafkaCodec,
  lz4Codec,
  snappyCodec,
  zstdCodec,
} from '../../src/producer/compression.codecs.js';
import { fnv1a32Bytes, partitionFor } from '../../src/model/fnv1a.js';
import { recordKey } from '../../src/producer/record.key.js';
import { createSender, loadEngine } from '../../src/producer/engines.js';
import {
  type OutgoingRecord,
  ownValue,
  recordValue,
  ValueSlabs,
} from '../../src/producer/outgoing.record.js';
import { Rng } from '../../src/model/random.js';
import { generateReading } from '../../src/simulation/reading.generator.js';
import { JsonReadingSerializer } from '../../src/simulation/reading.serializer.js';
import { SENSOR_NAMES } from '../../src/model/sensors/sensor.model.js';
import { consumeAll, sendSettled, testBrokers, testKafka, uniqueTopic } from '../support/kafka.js';

/** Every value of producer.compression (COMPRESSIONS in the config). */
const COMPRESSIONS: readonly CompressionName[] = ['none', 'gzip', 'snappy', 'lz4', 'zstd'];
const PARTITIONS = 3;
const ENGINE = (process.env.KAFKA_CLIENT ?? 'platformatic') as KafkaClientName;
const XERIAL_MAGIC = Buffer.from([0x82, 0x53, 0x4e, 0x41, 0x50, 0x50, 0x59, 0x00]);

/** Calls of fleetsim's codecs, to show the compressed paths really ran. */
const calls: Record<string, { compress: number; decompress: number; xerialIn: number }> = {};
for (const [name, codec] of [
  ['snappy', snappyCodec],
  ['lz4', lz4Codec],
  ['zstd', zstdCodec],
] as [string, KafkaCodec][]) {
  const count = (calls[name] = { compress: 0, decompress: 0, xerialIn: 0 });
  const { compress, decompress } = codec;
  codec.compress = (encoder) => {
    count.compress++;
    return compress(encoder);
  };
  codec.decompress = (buffer) => {
    count.decompress++;
    if (buffer.subarray(0, 8).equals(XERIAL_MAGIC)) count.xerialIn++;
    return decompress(buffer);
  };
}

/** Real readings of a 120-device fleet, plus a large, an incompressible and an empty value. */
function sampleRecords(): OutgoingRecord[] {
  const fleet = new Fleet({
    id: 'codecs',
    name: 'codecs',
    deviceCount: 120,
    intervalMs: 1000,
    sensors: [...SENSOR_NAMES],
    layout: deriveLayout(120),
    seed: 5,
  });
  const serializer = new JsonReadingSerializer();
  const params = { dataVariation: 1, trendEnabled: true, trendStrength: 1, anomalyRate: 0.05 };
  const out: OutgoingRecord[] = [];
  // Values written into shared slabs, as the pipeline writes them.
  const slabs = new ValueSlabs();
  for (let tick = 0; tick < 5; tick++) {
    const ts = Date.UTC(2026, 2, 1) + tick * 1000;
    for (const d of fleet.devices) {
      if (!generateReading(fleet, d, ts, params)) continue;
      const { key, hash } = recordKey(d.id);
      serializer.write(fleet, d, ts, slabs);
      out.push({
        key,
        slab: slabs.slab,
        valueStart: slabs.start,
        valueEnd: slabs.end,
        hash,
        partition: partitionFor(hash, PARTITIONS),
        scheduledAt: ts,
      });
    }
  }
  const rng = new Rng(9);
  const noise = Buffer.alloc(70_000);
  for (let i = 0; i < noise.length; i++) noise[i] = Math.floor(rng.next() * 256);
  const edge = (key: string, value: Buffer): OutgoingRecord => {
    const k = Buffer.from(key);
    const hash = fnv1a32Bytes(k);
    return {
      key: k,
      ...ownValue(value),
      hash,
      partition: partitionFor(hash, PARTITIONS),
      scheduledAt: 0,
    };
  };
  out.splice(100, 0, edge('edge-large', Buffer.concat(out.slice(0, 500).map(recordValue))));
  out.splice(200, 0, edge('edge-incompressible', noise));
  out.splice(300, 0, edge('edge-empty', Buffer.alloc(0)));
  return out;
}

interface Got {
  partition: number;
  offset: number;
  key: Buffer;
  value: Buffer;
}

/** Asserts that each partition holds exactly the records sent to it, in the order sent. */
function assertSameRecords(got: Got[], sent: OutgoingRecord[], what: string): void {
  assert.equal(got.length, sent.length, `${what}: message count`);
  for (let p = 0; p < PARTITIONS; p++) {
    const expected = sent.filter((r) => partitionFor(r.hash, PARTITIONS) === p);
    const actual = got.filter((g) => g.partition === p).sort((a, b) => a.offset - b.offset);
    assert.equal(actual.length, expected.length, `${what}: messages in partition ${p}`);
    for (let i = 0; i < expected.length; i++) {
      const at = `${what}: partition ${p} message ${i}`;
      assert.ok(actual[i].key.equals(expected[i].key), `${at}: key ${actual[i].key.toString()}`);
      assert.ok(
        actual[i].value.equals(recordValue(expected[i])),
        `${at} (${expected[i].key.toString()}): value of ${actual[i].value.length} bytes differs`,
      );
    }
  }
}

async function consumeWithKafkajs(topic: string): Promise<Got[]> {
  const messages = await consumeAll(topic, testBrokers(), false);
  return messages.map((m) => ({ ...m, key: Buffer.from(m.key, 'utf8') }));
}

/** Runs KafkaInterop.java once with the given commands; returns its standard output. */
function runJava(commands: string[]): Promise<string> {
  const libs = provisionKafkaJars();
  const source = join(projectRoot(), 'test', 'interop', 'KafkaInterop.java');
  const java = spawn('java', ['-cp', join(libs, '*'), source, testBrokers().join(',')], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  java.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  java.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  java.stdin.end(commands.join('\n') + '\n');
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => java.kill(), 240_000);
    java.on('error', reject);
    java.on('close', (code) => {
      clearTimeout(timer);
      if (code === 0 && stdout.includes('done')) resolve(stdout);
      else reject(new Error(`KafkaInterop.java exited ${code}:\n${stdout}\n${stderr}`));
    });
  });
}

function readJavaRecords(file: string): Got[] {
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const [partition, offset, key, value] = line.split(' ');
      return {
        partition: Number(partition),
        offset: Number(offset),
        key: Buffer.from(key, 'base64'),
        value: Buffer.from(value, 'base64'),
      };
    });
}

const records = sampleRecords();
const work = mkdtempSync(join(tmpdir(), 'fleetsim-codecs-'));
const fromFleetsim = new Map<CompressionName, string>();
const fromJava = new Map<CompressionName, string>();
const logSize = new Map<string, number>();
const compressedBy = new Map<CompressionName, number>();

before(async () => {
  await loadEngine(ENGINE);
  // fleetsim produces every codec's topic, in batches of 150 (several produce requests).
  for (const codec of COMPRESSIONS) {
    const topic = uniqueTopic(`codec-fleetsim-${codec}`);
    fromFleetsim.set(codec, topic);
    const sender = createSender(ENGINE, {
      brokers: testBrokers(),
      clientId: 'fleetsim-codec-test',
      topic,
      topicPartitions: PARTITIONS,
      topicReplicationFactor: 1,
      requiredAcks: -1,
      compression: codec,
      idempotent: false,
      maxInFlightRequests: 1,
    });
    await sender.connect();
    const compressed = calls[codec]?.compress ?? 0;
    try {
      for (let i = 0; i < records.length; i += 150) {
        const failed = await sendSettled(sender, records.slice(i, i + 150));
        assert.deepEqual(failed, [], `${ENGINE} ${codec}: every partition written`);
      }
    } finally {
      await sender.disconnect();
    }
    compressedBy.set(codec, (calls[codec]?.compress ?? 0) - compressed);
  }

  // The Java client produces the same records to the same partitions, with each codec.
  const input = join(work, 'records.txt');
  writeFileSync(
    input,
    records
      .map(
        (r) =>
          `${partitionFor(r.hash, PARTITIONS)} ${r.key.toString('base64')} ${recordValue(r).toString('base64')}`,
      )
      .join('\n') + '\n',
  );
  const admin = testKafka().admin();
  await admin.connect();
  for (const codec of COMPRESSIONS) fromJava.set(codec, uniqueTopic(`codec-java-${codec}`));
  await admin.createTopics({
    waitForLeaders: true,
    topics: [...fromJava.values()].map((topic) => ({ topic, numPartitions: PARTITIONS })),
  });
  await admin.disconnect();

  const commands: string[] = [];
  for (const codec of COMPRESSIONS) {
    commands.push(`consume ${fromFleetsim.get(codec)} ${records.length} ${join(work, codec)}`);
    commands.push(`produce ${fromJava.get(codec)} ${codec} ${input}`);
  }
  for (const topic of [...fromFleetsim.values(), ...fromJava.values()]) {
    commands.push(`logsize ${topic}`);
  }
  const out = await runJava(commands);
  for (const m of out.matchAll(/^logsize (\S+) (\d+)$/gm)) logSize.set(m[1], Number(m[2]));
});

after(() => rmSync(work, { recursive: true, force: true }));

for (const codec of COMPRESSIONS) {
  void test(`${codec}: fleetsim (${ENGINE}) → kafkajs consumer, byte for byte`, async () => {
    if (ENGINE === 'kafkajs' && codec in calls) {
      assert.ok(compressedBy.get(codec)! > 0, `fleetsim's ${codec} codec ran`);
    }
    const decompressions = calls[codec]?.decompress ?? 0;
    assertSameRecords(await consumeWithKafkajs(fromFleetsim.get(codec)!), records, codec);
    if (codec in calls) assert.ok(calls[codec].decompress > decompressions, 'codec decoded');
  });

  void test(`${codec}: fleetsim (${ENGINE}) → Apache Kafka Java consumer, byte for byte`, () => {
    assertSameRecords(readJavaRecords(join(work, codec)), records, `${codec} (Java consumer)`);
  });

  void test(`${codec}: Apache Kafka Java producer → kafkajs consumer, byte for byte`, async () => {
    const seen = { ...calls[codec] };
    assertSameRecords(await consumeWithKafkajs(fromJava.get(codec)!), records, `${codec} (Java)`);
    if (codec in calls) assert.ok(calls[codec].decompress > seen.decompress!, 'codec decoded');
    // The Java client frames snappy the snappy-java way; fleetsim reads that framing.
    if (codec === 'snappy') assert.ok(calls.snappy.xerialIn > seen.xerialIn!);
  });
}

void test('the broker keeps the batches compressed, whichever client wrote them', () => {
  for (const producer of [fromFleetsim, fromJava]) {
    const plain = logSize.get(producer.get('none')!)!;
    assert.ok(plain > 300_000, `uncompressed topic holds ${plain} bytes`);
    for (const codec of COMPRESSIONS.filter((c) => c !== 'none')) {
      const size = logSize.get(producer.get(codec)!)!;
      assert.ok(size < plain * 0.6, `${codec}: ${size} bytes on disk vs ${plain} uncompressed`);
    }
  }
});
