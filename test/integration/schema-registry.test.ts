/**
 * kafka.schemaRegistry against a real Schema Registry (Apicurio Registry, Confluent API under
 * /apis/ccompat/v7, test/support/schema-registry.ts): fleetsim registers proto/reading.proto
 * under <topic>-value at boot and frames every value in Confluent's wire format; a PATCH to
 * valueFormat json registers docs/reading.schema.json first, and later values carry its id.
 * The registry gives back, for each id in the topic, the schema fleetsim registered.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import protobuf from 'protobufjs';
import { SchemaRegistryClient } from '../../src/kafka/schema-registry.client.js';
import { projectRoot } from '../../src/kafka/project-root.js';
import { http, startApp, type TestApp, waitFor } from '../support/app.js';
import { consumeAll, testBrokers, uniqueTopic } from '../support/kafka.js';
import { type RunningSchemaRegistry, startSchemaRegistry } from '../support/schema-registry.js';

const PROTO = readFileSync(join(projectRoot(), 'proto', 'reading.proto'), 'utf8');
const JSON_SCHEMA = readFileSync(join(projectRoot(), 'docs', 'reading.schema.json'), 'utf8');
const Reading = protobuf
  .loadSync(join(projectRoot(), 'proto', 'reading.proto'))
  .lookupType('fleetsim.v1.Reading');

let registry: RunningSchemaRegistry;

before(
  async () => {
    // First run on a machine: builds the registry from Maven Central (a few minutes).
    registry = await startSchemaRegistry();
  },
  { timeout: 900_000 },
);

after(async () => {
  await registry?.stop();
});

/** The schema id of a framed value, and the value without the frame. */
function unframe(value: Buffer, format: 'json' | 'protobuf'): { id: number; payload: Buffer } {
  assert.equal(value[0], 0, 'magic byte 0');
  const id = value.readUInt32BE(1);
  if (format === 'json') return { id, payload: value.subarray(5) };
  assert.equal(value[5], 0, 'message indexes [0], written as one 0 byte');
  return { id, payload: value.subarray(6) };
}

async function produce(app: TestApp, count: number): Promise<number> {
  const before = (await http(app.url, 'GET', '/api/v1/simulation')).body.acknowledged as number;
  assert.equal((await http(app.url, 'POST', '/api/v1/simulation/start')).status, 200);
  await waitFor(`${count} more readings acknowledged`, async () => {
    const s = (await http(app.url, 'GET', '/api/v1/simulation')).body;
    return s.acknowledged >= before + count ? s : undefined;
  });
  assert.equal((await http(app.url, 'POST', '/api/v1/simulation/stop')).status, 200);
  await app.drained();
  return (await http(app.url, 'GET', '/api/v1/simulation')).body.acknowledged as number;
}

void test('values in Confluent wire format carry the id the registry gave; a format change registers first', async () => {
  const topic = uniqueTopic('registry');
  const app = await startApp({
    KAFKA_TOPIC: topic,
    FLEETSIM_VALUE_FORMAT: 'protobuf',
    FLEETSIM_AUTOSTART: 'false',
    FLEETSIM_ANOMALY_RATE: '0.1',
    SCHEMA_REGISTRY_URL: registry.url,
  });
  const client = new SchemaRegistryClient(registry.url);
  try {
    const subjects = (await (await fetch(`${registry.url}/subjects`)).json()) as string[];
    assert.ok(subjects.includes(`${topic}-value`), `subject ${topic}-value registered at boot`);
    const res = await http(app.url, 'POST', '/api/v1/fleets', {
      name: 'Framed',
      deviceCount: 20,
      intervalMs: 100,
      seed: 5,
    });
    assert.equal(res.status, 201, JSON.stringify(res.body));

    const protoCount = await produce(app, 300);
    const patched = await http(app.url, 'PATCH', '/api/v1/config', {
      producer: { valueFormat: 'json' },
    });
    assert.equal(patched.status, 200, JSON.stringify(patched.body));
    const total = await produce(app, 300);

    const messages = await consumeAll(topic, testBrokers(), false);
    assert.equal(messages.length, total, 'every acknowledged reading is in the topic');
    const ids = new Map<string, Set<number>>([
      ['protobuf', new Set()],
      ['json', new Set()],
    ]);
    let protoSeen = 0;
    for (const m of messages) {
      // Protobuf values start 0x00 id 0x00 0x0a (field 1, device_id); JSON ones 0x00 id '{'.
      const format = m.value[5] === 0 ? 'protobuf' : 'json';
      const { id, payload } = unframe(m.value, format);
      ids.get(format)!.add(id);
      if (format === 'protobuf') {
        protoSeen++;
        const r = Reading.toObject(Reading.decode(payload), { longs: Number, defaults: true });
        assert.equal(r.deviceId, m.key, 'the decoded reading is the keyed device');
        assert.equal(r.fleetId, 'framed');
      } else {
        const r = JSON.parse(payload.toString('utf8')) as { deviceId: string; fleetId: string };
        assert.equal(r.deviceId, m.key);
        assert.equal(r.fleetId, 'framed');
      }
    }
    assert.equal(protoSeen, protoCount, 'the readings before the PATCH are Protobuf');
    assert.equal(ids.get('protobuf')!.size, 1, 'one schema id on every Protobuf value');
    assert.equal(ids.get('json')!.size, 1, 'one schema id on every JSON value');
    const [protoId] = ids.get('protobuf')!;
    const [jsonId] = ids.get('json')!;
    assert.notEqual(protoId, jsonId);

    // The ids are the registry's: it answers each with the schema fleetsim registered.
    assert.deepEqual(await client.schemaById(protoId), { schema: PROTO, schemaType: 'PROTOBUF' });
    assert.deepEqual(await client.schemaById(jsonId), { schema: JSON_SCHEMA, schemaType: 'JSON' });
    // And they are the ids registering the same schema again gives.
    assert.equal(await client.register(`${topic}-value`, 'PROTOBUF', PROTO), protoId);
    assert.equal(await client.register(`${topic}-value`, 'JSON', JSON_SCHEMA), jsonId);

    // The registry settings themselves are fixed at boot.
    const refused = await http(app.url, 'PATCH', '/api/v1/config', {
      kafka: { schemaRegistry: { url: '' } },
    });
    assert.equal(refused.status, 409, JSON.stringify(refused.body));
    assert.match(JSON.stringify(refused.body), /kafka\.schemaRegistry/);
  } finally {
    await app.close();
  }
});

void test('a topic template cannot take a registered schema: the PATCH is refused, nothing changes', async () => {
  const topic = uniqueTopic('registry-t');
  const app = await startApp({
    KAFKA_TOPIC: topic,
    FLEETSIM_AUTOSTART: 'false',
    SCHEMA_REGISTRY_URL: registry.url,
  });
  try {
    const res = await http(app.url, 'PATCH', '/api/v1/config', {
      kafka: { topic: 'fleetsim.{fleetId}' },
    });
    // A rule between two settings, each valid on its own: 422, in cluster mode too.
    assert.equal(res.status, 422, JSON.stringify(res.body));
    assert.match(res.type, /^application\/problem\+json/);
    assert.match(JSON.stringify(res.body), /kafka\.topic/);
    const config = (await http(app.url, 'GET', '/api/v1/config')).body;
    assert.equal(config.config.kafka.topic, topic);
  } finally {
    await app.close();
  }
});
