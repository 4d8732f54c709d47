import assert from 'node:assert/strict';
import { after, before, type TestContext, test } from 'node:test';
import kafkajs from 'kafkajs';
import { EmbeddedKafkaCluster } from '../../src/kafka/embedded-kafka.js';
import { uniqueClusterName, waitFor } from '../support/app.js';
import {
  type Fault,
  type FaultResult,
  FaultHarness,
  type HarnessOptions,
  killLeader,
} from '../support/faults.js';
import { testKafka, topicSize, uniqueTopic } from '../support/kafka.js';

// The 3-broker mode of the embedded Kafka, the per-node handles fault tests rely on, and the
// quick case of the fault-injection suite (`npm run faults` runs them all).
const cluster = new EmbeddedKafkaCluster({ brokers: 3, partitions: 3 });
const topic = uniqueTopic('cluster');

before(async () => {
  await cluster.start();
});
after(async () => {
  await cluster.stop();
});

async function produce(
  count: number,
  tag: string,
  brokers = cluster.brokers,
  idempotent = true,
): Promise<void> {
  const kafka = new kafkajs.Kafka({
    clientId: 'fleetsim-test',
    brokers,
    logLevel: kafkajs.logLevel.NOTHING,
    requestTimeout: 5000,
  });
  const producer = kafka.producer({
    idempotent,
    createPartitioner: kafkajs.Partitioners.DefaultPartitioner,
    retry: { retries: 20, initialRetryTime: 100 },
  });
  await producer.connect();
  try {
    await producer.send({
      topic,
      acks: -1,
      messages: Array.from({ length: count }, (_, i) => ({ key: `${tag}-${i}`, value: tag })),
    });
  } finally {
    await producer.disconnect();
  }
}

test('three brokers, replication factor 3 and min.insync.replicas=2 by default', async () => {
  assert.equal(cluster.nodes.length, 3);
  assert.deepEqual(
    cluster.nodes.map((n) => n.nodeId),
    [1, 2, 3],
  );
  assert.equal(new Set(cluster.nodes.map((n) => n.pid)).size, 3, 'one JVM per broker');
  await produce(30, 'first');
  const parts = await cluster.waitForInSync(topic);
  assert.equal(parts.length, 3);
  for (const p of parts) assert.equal(p.replicas.length, 3, JSON.stringify(p));
  const admin = testKafka(cluster.brokers).admin();
  await admin.connect();
  const configs = await admin.describeConfigs({
    includeSynonyms: false,
    resources: [{ type: kafkajs.ConfigResourceTypes.TOPIC, name: topic }],
  });
  const minIsr = configs.resources[0].configEntries.find(
    (e) => e.configName === 'min.insync.replicas',
  );
  assert.equal(minIsr?.configValue, '2');
  assert.equal(await topicSize(admin, topic), 30);
  await admin.disconnect();
});

test('SIGKILL the leader: another broker leads, writes go on, the restarted broker catches up', async () => {
  const leader = await cluster.leaderOf(topic, 0);
  assert.ok(leader, 'partition 0 has a leader');
  await leader.kill();
  assert.equal(leader.running, false);
  const next = await waitFor('a new leader of partition 0', async () => {
    const l = await cluster.leaderOf(topic, 0).catch(() => undefined);
    return l && l.nodeId !== leader.nodeId ? l : undefined;
  });
  assert.notEqual(next.nodeId, leader.nodeId);
  await produce(30, 'during');
  await leader.start();
  assert.equal(leader.running, true);
  const parts = await cluster.waitForInSync(topic);
  assert.ok(
    parts.every((p) => p.isr.includes(leader.nodeId)),
    'the restarted broker is in sync',
  );
  const admin = testKafka(cluster.brokers).admin();
  await admin.connect();
  assert.equal(await topicSize(admin, topic), 60, 'nothing acknowledged was lost');
  await admin.disconnect();
});

test('SIGSTOP freezes a broker until SIGCONT; SIGTERM and start bring it back', async (t) => {
  const began = Date.now();
  const step = (what: string) => t.diagnostic(`${what} at ${Date.now() - began} ms`);
  const node = cluster.node(2);
  node.suspend();
  assert.equal(node.suspended, true);
  assert.equal(node.running, true, 'a suspended JVM still exists');
  // The controller fences the frozen broker once its heartbeats stop (broker.session.timeout.ms)
  // and moves its leaderships; two brokers are enough for min.insync.replicas=2.
  const others = cluster.nodes.filter((n) => n !== node).map((n) => n.address);
  const probe = new kafkajs.Kafka({
    clientId: 'fleetsim-test',
    brokers: others,
    logLevel: kafkajs.logLevel.NOTHING,
  }).admin();
  await probe.connect();
  await waitFor(
    'the frozen broker to be fenced',
    async () => {
      const { brokers } = await probe.describeCluster();
      return brokers.every((b) => b.nodeId !== node.nodeId) ? true : undefined;
    },
    90_000,
  );
  await probe.disconnect();
  step('fenced');
  const parts = await waitFor(
    'the frozen broker to lose its leaderships',
    async () => {
      const state = await cluster.partitions(topic).catch(() => undefined);
      return state?.every((p) => p.leader >= 0 && p.leader !== node.nodeId) ? state : undefined;
    },
    90_000,
  );
  assert.ok(
    parts.every((p) => !p.isr.includes(node.nodeId)),
    'nor is it in sync',
  );
  await produce(20, 'frozen', others);
  step('produced while frozen');
  node.resume();
  assert.equal(node.suspended, false);
  await cluster.waitForInSync(topic);
  step('in sync after SIGCONT');

  await node.terminate();
  assert.equal(node.running, false);
  step('terminated');
  await node.start();
  step('started');
  await cluster.waitForBrokers(3);
  await cluster.waitForInSync(topic);
  step('in sync after the restart');
  const admin = testKafka(cluster.brokers).admin();
  await admin.connect();
  // Polled: a new leader's high-water mark catches up only once its followers fetch.
  const size = await waitFor('the high-water marks to reach 80', async () => {
    const n = await topicSize(admin, topic);
    return n >= 80 ? n : undefined;
  }).catch(async () => topicSize(admin, topic));
  assert.equal(size, 80, 'every acknowledged message, once');
  await admin.disconnect();
});

test('fleetsim under a SIGKILL of the leader and its restart: nothing lost, doubled or reordered', async (t) => {
  // In cluster mode (the default), as `npm run faults` runs it. The broker it kills may lead
  // the cluster's control topic too: the case below makes sure of that.
  const harness = new FaultHarness(cluster, quickCase(t));
  const r = await harness.run(killLeader);
  t.diagnostic(JSON.stringify({ ...r, books: undefined }));
  assertAccounted(r);
});

/** The quick cases' harness settings: 5,000 msg/s, idempotent, 6 partitions, 3 s steady. */
function quickCase(t: TestContext): HarnessOptions {
  return {
    rate: 5000,
    idempotent: true,
    partitions: 6,
    steadySeconds: 3,
    recoveryTimeoutMs: 90_000,
    log: (m) => t.diagnostic(m),
  };
}

/** The fault suite's checks: nothing lost, doubled or reordered, and the books balance. */
function assertAccounted(r: FaultResult): void {
  assert.ok(r.acknowledged > 5000, `acknowledged ${r.acknowledged}`);
  assert.equal(r.lost, 0, 'every acknowledged reading is in the topic');
  assert.equal(r.duplicated, 0, 'exactly once with idempotence');
  assert.equal(r.reordered, 0, "each device's readings in seq order within a partition");
  assert.equal(r.audit.gaps, 0, 'no device misses a seq');
  assert.equal(
    r.audit.distinct,
    r.acknowledged,
    'nothing in the topic beyond what was acknowledged',
  );
  assert.equal(
    r.balanced,
    true,
    `the books balance in the API and /metrics: ${r.notes.join('; ')}`,
  );
  assert.equal(r.books!.failed + r.books!.dropped, 0);
  assert.notEqual(r.recoveryMs, null, 'full rate comes back after the restart');
}

// The broker that leads the cluster's control topic: its death destroys the member's reader
// of that topic (the client gives a fetch up after 4 tries, before the controller has moved
// the leadership). A reader that is not opened again applies nothing more: the simulation stop
// the harness asks for is refused, the fleet goes on producing and the books never drain.
test('fleetsim in cluster mode under a SIGKILL of the control topic leader and its restart: the control topic is read again', async (t) => {
  const name = uniqueClusterName();
  const control = `${name}.control`;
  const killControlLeader: Fault = {
    name: 'SIGKILL control topic leader, restart',
    async inject(ctx) {
      const leader = await ctx.cluster.leaderOf(control, 0);
      assert.ok(leader, `${control} has a leader`);
      ctx.note(`killed broker ${leader.nodeId}, leader of ${control}`);
      await leader.kill();
      await waitFor(
        `a new leader of ${control}`,
        async () => {
          const l = await ctx.cluster.leaderOf(control, 0).catch(() => undefined);
          return l && l.nodeId !== leader.nodeId ? l : undefined;
        },
        60_000,
      );
      await leader.start();
      return { returnedAt: Date.now() };
    },
  };
  const harness = new FaultHarness(cluster, {
    ...quickCase(t),
    env: { FLEETSIM_CLUSTER_NAME: name },
  });
  const r = await harness.run(killControlLeader);
  t.diagnostic(JSON.stringify({ ...r, books: undefined }));
  assertAccounted(r);
});
