/**
 * Scale-out through Kafka: fleetsim processes with the same cluster.name share fleets and
 * config through the control topic and split the readings partitions through a consumer
 * group. Real processes (node dist/src/main.js) against the test broker.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { http, waitFor } from '../support/app.js';
import { consumeAll, testKafka, uniqueTopic } from '../support/kafka.js';
import { type ServerProcess, spawnServer, terminate } from '../support/server.js';

const INTERVAL = 500;
const servers: ServerProcess[] = [];

after(async () => {
  await Promise.all(servers.map((s) => s.kill()));
});

/** Starts a member of `cluster` writing to `topic`. */
async function member(
  cluster: string,
  topic: string,
  env: Record<string, string> = {},
): Promise<ServerProcess> {
  const s = await spawnServer({
    ...env,
    KAFKA_TOPIC: topic,
    KAFKA_TOPIC_PARTITIONS: '6',
    KAFKA_COMPRESSION: 'none',
    FLEETSIM_CLUSTER: 'true',
    FLEETSIM_CLUSTER_NAME: cluster,
    FLEETSIM_CLUSTER_SESSION_TIMEOUT_MS: '6000',
  });
  servers.push(s);
  return s;
}

interface MemberView {
  member: string;
  partitions: number[];
}

/** Each process's own view of the partitions it produces. */
async function ownership(members: ServerProcess[]): Promise<MemberView[]> {
  return Promise.all(
    members.map(async (s) => {
      const res = await http(s.url, 'GET', '/api/v1/simulation');
      assert.equal(res.status, 200);
      const c = res.body.cluster;
      return c.members.find((m: MemberView) => m.member === c.member) as MemberView;
    }),
  );
}

/** The members' cluster log lines (joins, assignments, takeovers), to explain a failure. */
function clusterLog(members: ServerProcess[]): string {
  return members
    .map((s, i) =>
      [
        `--- member ${i} (${s.url}):`,
        ...s.lines
          .filter((l) => l.context === 'Cluster' || l.level === 'error' || l.level === 'warn')
          .map((l) => `${String(l.timestamp ?? '')} ${l.level} ${String(l.message)}`),
      ].join('\n'),
    )
    .join('\n');
}

/** Waits until the members' partitions are disjoint, cover all `n`, and each has some. */
async function balanced(members: ServerProcess[], n = 6): Promise<MemberView[]> {
  let last: MemberView[] = [];
  try {
    return await waitFor(
      `${members.length} members to share the ${n} partitions`,
      async () => {
        const views = await ownership(members);
        last = views;
        const all = views.flatMap((v) => v.partitions);
        const ok =
          views.every((v) => v.partitions.length > 0) &&
          all.length === n &&
          new Set(all).size === n;
        return ok ? views : undefined;
      },
      60_000,
    );
  } catch (err) {
    (err as Error).message +=
      `\nlast views: ${JSON.stringify(last)}\nmember logs:\n${clusterLog(members)}`;
    throw err;
  }
}

/** Asserts every device's seq is gap-free and duplicate-free; returns readings per device. */
function assertContinuous(
  messages: { json: { deviceId: string; seq: number } }[],
): Map<string, number[]> {
  const byDevice = new Map<string, number[]>();
  for (const m of messages) {
    const list = byDevice.get(m.json.deviceId) ?? [];
    list.push(m.json.seq);
    byDevice.set(m.json.deviceId, list);
  }
  for (const [device, seqs] of byDevice) {
    const sorted = [...seqs].sort((a, b) => a - b);
    for (let i = 1; i < sorted.length; i++) {
      assert.equal(
        sorted[i],
        sorted[i - 1] + 1,
        `${device}: seq ${sorted[i - 1]} then ${sorted[i]} (${sorted.length} readings)`,
      );
    }
  }
  return byDevice;
}

test('three processes form one simulation: shared fleets, disjoint partitions, changes through any', async () => {
  const cluster = `c-${randomUUID().slice(0, 8)}`;
  const topic = uniqueTopic('cluster');
  const [a, b, c] = [
    await member(cluster, topic),
    await member(cluster, topic),
    await member(cluster, topic),
  ];
  const created = await http(a.url, 'POST', '/api/v1/fleets', {
    name: 'shared',
    deviceCount: 60,
    intervalMs: INTERVAL,
    seed: 7,
  });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  assert.equal(created.headers.get('location'), '/api/v1/fleets/shared');
  // Read-your-writes on the writer; the others converge.
  const read = await http(a.url, 'GET', '/api/v1/fleets/shared');
  assert.equal(read.status, 200);
  const etag = read.headers.get('etag')!;
  assert.equal(created.headers.get('etag'), etag);
  const lists = await waitFor('every member to list the fleet', async () => {
    const all = await Promise.all([a, b, c].map((s) => http(s.url, 'GET', '/api/v1/fleets')));
    return all.every((r) => r.body.length === 1) ? all.map((r) => r.body) : undefined;
  });
  assert.deepEqual(lists[1], lists[0]);
  assert.deepEqual(lists[2], lists[0]);
  // The fleet's ETag is derived from its content: every member answers the same one.
  for (const s of [b, c]) {
    assert.equal((await http(s.url, 'GET', '/api/v1/fleets/shared')).headers.get('etag'), etag);
  }

  const views = await balanced([a, b, c]);
  // Every member produces: its own produced count grows.
  await waitFor('every member to produce readings', async () => {
    const st = await Promise.all([a, b, c].map((s) => http(s.url, 'GET', '/api/v1/simulation')));
    return st.every((r) => r.body.produced > 0) ? true : undefined;
  });

  // A change through the second member, with the ETag read from the first, takes effect on all.
  const patched = await http(
    b.url,
    'PATCH',
    '/api/v1/fleets/shared',
    { deviceCount: 90 },
    { 'if-match': etag },
  );
  assert.equal(patched.status, 200, JSON.stringify(patched.body));
  assert.equal(patched.body.deviceCount, 90);
  assert.notEqual(patched.headers.get('etag'), etag);
  // The third member catches up before it checks If-Match: the old ETag is stale there at once.
  const stale = await http(
    c.url,
    'PATCH',
    '/api/v1/fleets/shared',
    { deviceCount: 30 },
    { 'if-match': etag },
  );
  assert.equal(stale.status, 412, JSON.stringify(stale.body));
  assert.equal(stale.body.etag, patched.headers.get('etag'));
  await waitFor('every member to see 90 devices', async () => {
    const all = await Promise.all(
      [a, b, c].map((s) => http(s.url, 'GET', '/api/v1/fleets/shared')),
    );
    return all.every((r) => r.body.deviceCount === 90) ? true : undefined;
  });
  // A config change through the third member takes effect on all; a bad one is refused there.
  const bad = await http(c.url, 'PATCH', '/api/v1/config', { simulation: { dataVariation: 7 } });
  assert.equal(bad.status, 400);
  const config = await http(c.url, 'PATCH', '/api/v1/config', {
    simulation: { dataVariation: 0.25 },
  });
  assert.equal(config.status, 200, JSON.stringify(config.body));
  assert.equal(config.body.config.simulation.dataVariation, 0.25);
  const tags = await waitFor('every member to apply the config change', async () => {
    const all = await Promise.all([a, b, c].map((s) => http(s.url, 'GET', '/api/v1/config')));
    return all.every((r) => r.body.config.simulation.dataVariation === 0.25)
      ? all.map((r) => r.headers.get('etag'))
      : undefined;
  });
  // The config's ETag is the version of the shared changes: the same on every member.
  assert.deepEqual(
    tags,
    [1, 2, 3].map(() => config.headers.get('etag')),
  );
  const again = await http(
    a.url,
    'PATCH',
    '/api/v1/config',
    { simulation: { dataVariation: 0.25 } },
    { 'if-match': config.headers.get('etag')! },
  );
  assert.equal(again.status, 200, JSON.stringify(again.body));
  const staleConfig = await http(
    b.url,
    'PATCH',
    '/api/v1/config',
    { simulation: { dataVariation: 0.3 } },
    { 'if-match': config.headers.get('etag')! },
  );
  assert.equal(staleConfig.status, 412, JSON.stringify(staleConfig.body));
  await new Promise((r) => setTimeout(r, 3 * INTERVAL));
  const stopped = await Promise.all([a, b, c].map((s) => terminate(s)));
  assert.deepEqual(
    stopped.map((s) => s.code),
    [0, 0, 0],
  );
  const messages = await consumeAll(topic);
  const byDevice = assertContinuous(messages);
  assert.equal(byDevice.size, 90, 'every device of the fleet streamed');
  // Each device's partition is owned by exactly one member.
  const owners = new Map<number, string>();
  for (const v of views) for (const p of v.partitions) owners.set(p, v.member);
  assert.equal(owners.size, 6);
  const partitionsSeen = new Set(messages.map((m) => m.partition));
  assert.equal(partitionsSeen.size, 6);
});

test('anomalies, scenario runs and simulation start/stop through one member act on all', async () => {
  const cluster = `c-${randomUUID().slice(0, 8)}`;
  const topic = uniqueTopic('cluster-shared');
  const [a, b] = [await member(cluster, topic), await member(cluster, topic)];
  const created = await http(a.url, 'POST', '/api/v1/fleets', {
    name: 'labelled',
    deviceCount: 40,
    intervalMs: INTERVAL,
    seed: 5,
  });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const views = await balanced([a, b]);
  const ofB = new Set(views[1].partitions);

  // An anomaly injected through a labels readings of the devices b owns.
  const injected = await http(a.url, 'POST', '/api/v1/anomalies', {
    target: { fleetId: 'labelled' },
    sensor: 'temperature',
    kind: 'spike',
    durationMs: 60_000,
  });
  assert.equal(injected.status, 201, JSON.stringify(injected.body));
  const id = injected.body.id as string;
  // Read-your-writes on a, the same answer from b.
  assert.equal((await http(a.url, 'GET', `/api/v1/anomalies/${id}`)).body.state, 'active');
  const onB = await waitFor('b to know the anomaly', async () => {
    const r = await http(b.url, 'GET', `/api/v1/anomalies/${id}`);
    return r.status === 200 ? r.body : undefined;
  });
  assert.deepEqual(onB, (await http(a.url, 'GET', `/api/v1/anomalies/${id}`)).body);
  await waitFor('readings of b’s partitions labelled with the anomaly', async () => {
    const messages = await consumeAll(topic);
    return messages.some(
      (m) => ofB.has(m.partition) && (m.json as { anomaly?: { id: string } }).anomaly?.id === id,
    )
      ? true
      : undefined;
  });
  // Cancelled through b: cancelled on a.
  assert.equal((await http(b.url, 'DELETE', `/api/v1/anomalies/${id}`)).status, 204);
  assert.equal((await http(b.url, 'GET', `/api/v1/anomalies/${id}`)).body.state, 'cancelled');
  await waitFor('a to see the cancellation', async () =>
    (await http(a.url, 'GET', `/api/v1/anomalies/${id}`)).body.state === 'cancelled'
      ? true
      : undefined,
  );

  // A scenario started through b shows on both, with the same stage anomalies; stopped through a.
  const started = await http(b.url, 'POST', '/api/v1/scenarios/hvac-failure/start', {
    fleetId: 'labelled',
  });
  assert.equal(started.status, 200, JSON.stringify(started.body));
  const scenarioOn = async (s: ServerProcess) =>
    (await http(s.url, 'GET', '/api/v1/simulation')).body.scenario;
  assert.equal((await scenarioOn(b))?.name, 'hvac-failure');
  const seen = await waitFor('a to run the scenario', async () => {
    const sc = await scenarioOn(a);
    return sc?.name === 'hvac-failure' ? sc : undefined;
  });
  assert.deepEqual(seen, await scenarioOn(b));
  const scenarioAnomalies = async (s: ServerProcess) =>
    (await http(s.url, 'GET', '/api/v1/anomalies?fleetId=labelled')).body.items
      .filter((x: { scenario?: string }) => x.scenario === 'hvac-failure')
      .map((x: { id: string; startsAt: string }) => `${x.id}@${x.startsAt}`);
  assert.deepEqual(await scenarioAnomalies(a), await scenarioAnomalies(b));
  const stopped = await http(a.url, 'POST', '/api/v1/scenarios/hvac-failure/stop');
  assert.equal(stopped.status, 200, JSON.stringify(stopped.body));
  assert.equal(await scenarioOn(a), null);
  await waitFor('b to stop the scenario', async () =>
    (await scenarioOn(b)) === null ? true : undefined,
  );

  // Simulation stop through a stops b; start through b starts a.
  const halted = await http(a.url, 'POST', '/api/v1/simulation/stop');
  assert.equal(halted.body.state, 'stopped');
  await waitFor('b to stop', async () =>
    (await http(b.url, 'GET', '/api/v1/simulation')).body.state === 'stopped' ? true : undefined,
  );
  const resumed = await http(b.url, 'POST', '/api/v1/simulation/start');
  assert.equal(resumed.body.state, 'running');
  await waitFor('a to run again', async () =>
    (await http(a.url, 'GET', '/api/v1/simulation')).body.state === 'running' ? true : undefined,
  );
  // A member that joins later converges: same fleets, same anomalies, running.
  const c = await member(cluster, topic);
  assert.deepEqual(
    (await http(c.url, 'GET', `/api/v1/anomalies/${id}`)).body,
    (await http(a.url, 'GET', `/api/v1/anomalies/${id}`)).body,
  );
  assert.equal((await http(c.url, 'GET', '/api/v1/simulation')).body.state, 'running');
  await Promise.all([terminate(a), terminate(b), terminate(c)]);
});

test('stop and start through different members, a member joining while stopped: every seq continues with no gap or duplicate', async () => {
  const cluster = `c-${randomUUID().slice(0, 8)}`;
  const topic = uniqueTopic('cluster-pause');
  const [a, b] = [await member(cluster, topic), await member(cluster, topic)];
  const created = await http(a.url, 'POST', '/api/v1/fleets', {
    name: 'paused',
    // 1,200 readings a second: a member that applies the stop a millisecond later than another
    // has readings past the other's stop, which a takeover between them must not send while stopped.
    deviceCount: 600,
    intervalMs: INTERVAL,
    seed: 19,
  });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  await balanced([a, b]);
  await new Promise((r) => setTimeout(r, 4 * INTERVAL));
  const state = async (s: ServerProcess) =>
    (await http(s.url, 'GET', '/api/v1/simulation')).body.state as string;

  // Stopped through a: b stops too, and nothing more is produced.
  assert.equal((await http(a.url, 'POST', '/api/v1/simulation/stop')).body.state, 'stopped');
  await waitFor('b to stop', async () => ((await state(b)) === 'stopped' ? true : undefined));
  const stoppedAt = Date.now();
  await new Promise((r) => setTimeout(r, 1000));
  // What the members made before the stop is acknowledged before the topic is counted.
  for (const s of [a, b]) {
    await waitFor('the producer to have nothing queued or in flight', async () => {
      const { body } = await http(s.url, 'GET', '/api/v1/producer');
      return body.queued === 0 && body.inFlight === 0 ? true : undefined;
    });
  }
  const before = await consumeAll(topic);
  // A member joining the stopped cluster stays stopped and takes partitions over.
  const c = await member(cluster, topic);
  assert.equal(await state(c), 'stopped');
  await balanced([a, b, c]);
  await new Promise((r) => setTimeout(r, 2 * INTERVAL));
  const whileStopped = await consumeAll(topic);
  if (whileStopped.length !== before.length) {
    const seen = new Set(before.map((m) => `${m.partition}/${m.offset}`));
    const extra = whileStopped
      .filter((m) => !seen.has(`${m.partition}/${m.offset}`))
      .map((m) => `p${m.partition} ${m.json.deviceId} seq ${m.json.seq} ts ${String(m.json.ts)}`);
    assert.fail(
      `produced while stopped (stop at ${new Date(stoppedAt).toISOString()}): ${extra.join('; ')}\n` +
        clusterLog([a, b, c]),
    );
  }
  const stoppedMs = Date.now() - stoppedAt;
  assert.ok(stoppedMs > 4 * INTERVAL, `stopped for ${stoppedMs} ms`);

  // Started through the new member: every member runs again.
  const startedAt = Date.now();
  assert.equal((await http(c.url, 'POST', '/api/v1/simulation/start')).body.state, 'running');
  await waitFor('a and b to run again', async () =>
    (await state(a)) === 'running' && (await state(b)) === 'running' ? true : undefined,
  );
  await new Promise((r) => setTimeout(r, 6 * INTERVAL));
  await Promise.all([terminate(a), terminate(b), terminate(c)]);

  const messages = await consumeAll(topic);
  const byDevice = assertContinuous(messages);
  assert.equal(byDevice.size, 600, 'every device streamed');
  const times = new Map<string, number[]>();
  for (const m of messages) {
    const r = m.json as { deviceId: string; seq: number; ts: string };
    const list = times.get(r.deviceId) ?? [];
    list[r.seq] = Date.parse(r.ts);
    times.set(r.deviceId, list);
  }
  for (const [device, seqs] of byDevice) {
    assert.equal(Math.min(...seqs), 0, `${device}: the first reading is seq 0`);
    // Readings on both sides of the stop: the stopped time is a step in event time, not in seq.
    const ts = times.get(device)!;
    assert.ok(
      ts.some((t) => t < stoppedAt) && ts.some((t) => t >= startedAt - INTERVAL),
      `${device}: readings before the stop and after the start`,
    );
    const steps = ts.slice(1).map((t, i) => t - ts[i]);
    assert.ok(
      steps.some((d) => d > INTERVAL + stoppedMs / 2),
      `${device}: one step spans the stopped time (${stoppedMs} ms)`,
    );
    for (const d of steps) assert.ok(d >= INTERVAL - 1, `${device}: steps of an interval or more`);
  }
});

test('every anomaly lifecycle event is written to the label topic once, by one of three members', async () => {
  const cluster = `c-${randomUUID().slice(0, 8)}`;
  const topic = uniqueTopic('cluster-labels');
  const labels = uniqueTopic('cluster-labels-topic');
  // Made (with its leader) before it is read: reading a topic being created can fail.
  const admin = testKafka().admin();
  await admin.connect();
  await admin.createTopics({ waitForLeaders: true, topics: [{ topic: labels, numPartitions: 6 }] });
  await admin.disconnect();
  const env = { KAFKA_LABEL_TOPIC: labels };
  const members = [
    await member(cluster, topic, env),
    await member(cluster, topic, env),
    await member(cluster, topic, env),
  ];
  const created = await http(members[0].url, 'POST', '/api/v1/fleets', {
    name: 'labels',
    deviceCount: 30,
    intervalMs: INTERVAL,
  });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  await balanced(members);
  // Six anomalies through the three members (their ids hash to partitions of different
  // owners): three run to their end, three are cancelled through another member.
  const expected = new Map<string, string[]>();
  for (let i = 0; i < 6; i++) {
    const through = members[i % 3];
    const res = await http(through.url, 'POST', '/api/v1/anomalies', {
      target: { fleetId: 'labels' },
      sensor: 'temperature',
      kind: 'spike',
      startInMs: 200,
      durationMs: i < 3 ? 1000 : 60_000,
    });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    const id = res.body.id as string;
    expected.set(
      id,
      i < 3 ? ['injected', 'started', 'ended'] : ['injected', 'started', 'cancelled'],
    );
  }
  const ids = [...expected.keys()];
  assert.equal(new Set(ids).size, 6, `distinct ids: ${ids.join(', ')}`);
  const eventsOf = (all: { json: unknown }[]) => {
    const seen = new Map<string, string[]>();
    for (const m of all) {
      const l = m.json as { anomalyId: string; event: string };
      seen.set(l.anomalyId, [...(seen.get(l.anomalyId) ?? []), l.event]);
    }
    return seen;
  };
  // Started before they are cancelled (cancelled first, an anomaly never starts).
  await waitFor('every anomaly to start', async () => {
    const seen = eventsOf(await consumeAll(labels));
    return ids.every((id) => seen.get(id)?.includes('started')) ? true : undefined;
  });
  for (let i = 3; i < 6; i++) {
    const res = await http(members[(i + 1) % 3].url, 'DELETE', `/api/v1/anomalies/${ids[i]}`);
    assert.equal(res.status, 204);
  }
  await waitFor('every anomaly to end or be cancelled', async () => {
    const seen = eventsOf(await consumeAll(labels));
    return ids.every((id) => (seen.get(id) ?? []).length >= 3) ? true : undefined;
  });
  // Stopping flushes every member's producer: whatever a member would write twice is in now.
  await Promise.all(members.map((m) => terminate(m)));
  const seen = eventsOf(await consumeAll(labels));
  for (const [id, events] of expected) {
    assert.deepEqual(
      [...(seen.get(id) ?? [])].sort(),
      [...events].sort(),
      `label events of ${id}\n${clusterLog(members)}`,
    );
  }
});

test('one process, no cluster setting: a cluster of one; boot fleets from seq 0; a restart converges and continues every seq', async (t) => {
  const cluster = `c-${randomUUID().slice(0, 8)}`;
  const topic = uniqueTopic('cluster-restart');
  const dir = mkdtempSync(join(tmpdir(), 'fleetsim-cluster-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'fleetsim.yaml');
  writeFileSync(
    file,
    'simulation:\n  fleets:\n    - name: Boot\n      deviceCount: 6\n      intervalMs: 500\n',
  );
  // No FLEETSIM_CLUSTER: cluster mode is the default.
  const env = {
    KAFKA_TOPIC: topic,
    KAFKA_TOPIC_PARTITIONS: '6',
    KAFKA_COMPRESSION: 'none',
    FLEETSIM_CONFIG: file,
    FLEETSIM_CLUSTER_NAME: cluster,
  };
  const first = await spawnServer(env);
  servers.push(first);
  const status = await http(first.url, 'GET', '/api/v1/simulation');
  assert.equal(status.body.cluster?.name, cluster);
  const made = await http(first.url, 'POST', '/api/v1/fleets', {
    name: 'Made',
    deviceCount: 6,
    intervalMs: INTERVAL,
  });
  assert.equal(made.status, 201, JSON.stringify(made.body));
  const fleetsBefore = (await http(first.url, 'GET', '/api/v1/fleets')).body;
  await waitFor('readings of all 12 devices', async () =>
    new Set((await consumeAll(topic)).map((m) => (m.json as { deviceId: string }).deviceId))
      .size === 12
      ? true
      : undefined,
  );
  assert.equal((await terminate(first)).code, 0);

  // The restarted process reads its fleets back (the boot fleet is not created again).
  const second = await spawnServer(env);
  servers.push(second);
  assert.deepEqual((await http(second.url, 'GET', '/api/v1/fleets')).body, fleetsBefore);
  const stopped = (await consumeAll(topic)).length;
  await waitFor('the restarted process to stream', async () =>
    (await consumeAll(topic)).length > stopped + 48 ? true : undefined,
  );
  assert.equal((await terminate(second)).code, 0);
  const byDevice = assertContinuous(await consumeAll(topic));
  assert.equal(byDevice.size, 12);
  for (const [device, seqs] of byDevice) {
    assert.equal(Math.min(...seqs), 0, `${device}: the first reading is seq 0`);
  }
});

test('the ownership topic follows a partition-count change of the readings topic', async () => {
  const cluster = `c-${randomUUID().slice(0, 8)}`;
  const topic = uniqueTopic('cluster-grow');
  const env = { KAFKA_METADATA_REFRESH_MS: '1000' };
  const [a, b] = [await member(cluster, topic, env), await member(cluster, topic, env)];
  const created = await http(a.url, 'POST', '/api/v1/fleets', {
    name: 'growing',
    deviceCount: 40,
    intervalMs: INTERVAL,
    seed: 3,
  });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  await balanced([a, b]);
  const admin = testKafka().admin();
  await admin.connect();
  await admin.createPartitions({ topicPartitions: [{ topic, count: 8 }] });
  await admin.disconnect();
  await balanced([a, b], 8);
  for (const s of [a, b]) {
    assert.equal((await http(s.url, 'GET', '/api/v1/simulation')).body.cluster.partitions, 8);
  }
  // Readings reach the new partitions.
  await waitFor('readings in partitions 6 and 7', async () => {
    const seen = new Set((await consumeAll(topic)).map((m) => m.partition));
    return seen.has(6) && seen.has(7) ? true : undefined;
  });
  await Promise.all([terminate(a), terminate(b)]);
});

test('scaling 1 → 3 → 2 while streaming: every device seq gap-free and duplicate-free', async () => {
  const cluster = `c-${randomUUID().slice(0, 8)}`;
  const topic = uniqueTopic('cluster-scale');
  const a = await member(cluster, topic);
  const created = await http(a.url, 'POST', '/api/v1/fleets', {
    name: 'scaled',
    deviceCount: 60,
    intervalMs: INTERVAL,
    seed: 11,
  });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  await balanced([a]);
  await new Promise((r) => setTimeout(r, 4 * INTERVAL));
  const b = await member(cluster, topic);
  const c = await member(cluster, topic);
  await balanced([a, b, c]);
  await new Promise((r) => setTimeout(r, 4 * INTERVAL));
  assert.equal((await terminate(b)).code, 0);
  await balanced([a, c]);
  await new Promise((r) => setTimeout(r, 4 * INTERVAL));
  await Promise.all([terminate(a), terminate(c)]);

  const messages = await consumeAll(topic);
  const byDevice = assertContinuous(messages);
  assert.equal(byDevice.size, 60);
  // The run lasted well over 12 intervals: every device streamed throughout.
  for (const [device, seqs] of byDevice) {
    assert.ok(seqs.length >= 12, `${device} sent only ${seqs.length} readings`);
  }
});

test('SIGKILL of one of three: its partitions stream again from the others, the gap is bounded and counted', async () => {
  const cluster = `c-${randomUUID().slice(0, 8)}`;
  const topic = uniqueTopic('cluster-kill');
  const [a, b, c] = [
    await member(cluster, topic),
    await member(cluster, topic),
    await member(cluster, topic),
  ];
  const created = await http(a.url, 'POST', '/api/v1/fleets', {
    name: 'crashy',
    deviceCount: 60,
    intervalMs: INTERVAL,
    seed: 13,
  });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const views = await balanced([a, b, c]);
  await new Promise((r) => setTimeout(r, 3 * INTERVAL));
  const lost = views[2].partitions;
  const killedAt = Date.now();
  c.child.kill('SIGKILL');
  await c.exited;
  // Session timeout 6 s: the survivors own all six partitions again within it (plus a rebalance).
  await balanced([a, b]);
  const tookMs = Date.now() - killedAt;
  assert.ok(tookMs < 6000 + 5000, `partitions moved after ${tookMs} ms`);
  const metrics = await Promise.all([a, b].map((s) => http(s.url, 'GET', '/metrics')));
  const crashes = metrics
    .map((m) => /fleetsim_cluster_takeovers_total\{[^}]*kind="crash"[^}]*\} (\d+)/.exec(m.body))
    .reduce((n, m) => n + (m ? Number(m[1]) : 0), 0);
  assert.equal(crashes, lost.length, 'each lost partition counted as a crash takeover');
  const warned = [a, b].flatMap((s) =>
    s.lines.filter((l) => /took over partition \d+ \(crash/.test(String(l.message))),
  );
  assert.equal(warned.length, lost.length);
  await new Promise((r) => setTimeout(r, 3 * INTERVAL));
  await Promise.all([terminate(a), terminate(b)]);

  const messages = await consumeAll(topic);
  const byDevice = new Map<string, number[]>();
  for (const m of messages) {
    const list = byDevice.get(m.json.deviceId) ?? [];
    list.push(m.json.seq);
    byDevice.set(m.json.deviceId, list);
  }
  assert.equal(byDevice.size, 60);
  // Bound: a crash may repeat readings since the last checkpoint (1 s) but loses none here.
  const bound = Math.ceil(1000 / INTERVAL) + 2;
  for (const [device, seqs] of byDevice) {
    const sorted = [...seqs].sort((x, y) => x - y);
    const distinct = new Set(sorted);
    assert.equal(
      sorted[sorted.length - 1] - sorted[0] + 1,
      distinct.size,
      `${device}: a seq is missing`,
    );
    assert.ok(
      sorted.length - distinct.size <= bound,
      `${device}: ${sorted.length - distinct.size} repeats`,
    );
  }
});

test('FLEETSIM_WORKERS=2 runs two members of one cluster behind one endpoint', async () => {
  const cluster = `c-${randomUUID().slice(0, 8)}`;
  const topic = uniqueTopic('cluster-workers');
  const s = await spawnServer({
    KAFKA_TOPIC: topic,
    KAFKA_TOPIC_PARTITIONS: '6',
    KAFKA_COMPRESSION: 'none',
    FLEETSIM_CLUSTER_NAME: cluster,
    FLEETSIM_WORKERS: '2',
  });
  servers.push(s);
  const created = await http(s.url, 'POST', '/api/v1/fleets', {
    name: 'workers',
    deviceCount: 40,
    intervalMs: INTERVAL,
    seed: 17,
  });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const members = await waitFor('two members sharing the 6 partitions', async () => {
    const res = await http(s.url, 'GET', '/api/v1/simulation');
    const list: MemberView[] = res.body.cluster?.members ?? [];
    const all = list.flatMap((m) => m.partitions);
    return list.length === 2 && all.length === 6 && new Set(all).size === 6 ? list : undefined;
  });
  assert.ok(members.every((m) => m.partitions.length > 0));
  await new Promise((r) => setTimeout(r, 4 * INTERVAL));
  assert.equal((await terminate(s)).code, 0);
  const byDevice = assertContinuous(await consumeAll(topic));
  assert.equal(byDevice.size, 40);
});

test('a member joining a cluster that runs behind its schedule sends what its takeover owes paced, within bufferMemory, losing nothing', async (t) => {
  const cluster = `c-${randomUUID().slice(0, 8)}`;
  const topic = uniqueTopic('cluster-behind');
  const bufferMemory = 4 * 1024 * 1024;
  const env = {
    KAFKA_BUFFER_MEMORY: String(bufferMemory),
    FLEETSIM_MAX_TARGET_RATE: '10000000',
    LOG_LEVEL: 'info',
  };
  const a = await member(cluster, topic, env);
  // 500,000 readings a second scheduled, far more than one process produces here: member a
  // falls further behind its schedule every second (backpressure holds it).
  const created = await http(a.url, 'POST', '/api/v1/fleets', {
    name: 'behind',
    deviceCount: 50_000,
    intervalMs: 100,
    seed: 19,
  });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const fleetId = created.body.id as string;
  await balanced([a]);
  await new Promise((r) => setTimeout(r, 3000));
  // b owns nothing until the group shares out: its schedule keeps up with the clock. Each
  // partition it takes over owes the readings between where a's schedule stood and its own:
  // seconds of half the fleet, many times bufferMemory.
  const b = await member(cluster, topic, env);
  let peak = 0;
  let polls = 0;
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      const res = await http(b.url, 'GET', '/api/v1/producer');
      if (res.status === 200) {
        peak = Math.max(peak, res.body.bufferedBytes as number);
        polls++;
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  })();
  const views = await balanced([a, b]);
  const taken = views[1].partitions;
  const caughtUp = async () => {
    const metrics = await http(b.url, 'GET', '/metrics');
    return Number(
      /fleetsim_cluster_takeover_readings_total\{[^}]*kind="caught_up"[^}]*\} (\d+)/.exec(
        metrics.body,
      )?.[1] ?? 0,
    );
  };
  // Many times the buffer went out late (a reading holds well over 200 bytes) …
  await waitFor(
    'member b to send late readings worth 4 × bufferMemory',
    async () => ((await caughtUp()) * 200 > 4 * bufferMemory ? true : undefined),
    60_000,
  ).catch((err: Error) => {
    err.message += `\n${polls} samples, peak ${peak} B; member logs:\n${clusterLog([a, b])}`;
    throw err;
  });
  // … as the producer took them, not into memory at once.
  sampling = false;
  await sampler;
  t.diagnostic(
    `b: ${await caughtUp()} readings sent late; buffered at most ${peak} B in ${polls} samples`,
  );
  assert.ok(polls > 10, `only ${polls} samples of b's producer`);
  assert.ok(peak <= 2 * bufferMemory, `b buffered up to ${peak} B (bufferMemory ${bufferMemory})`);
  // A smaller fleet: the rest of what b owes (of the devices left) goes out quickly.
  const scaled = await http(a.url, 'PATCH', `/api/v1/fleets/${fleetId}`, { deviceCount: 1000 });
  assert.equal(scaled.status, 200, JSON.stringify(scaled.body));
  await waitFor(
    `member b to finish what its takeovers owed (partitions ${taken.join(',')})`,
    () =>
      taken.every((p) =>
        b.lines.some((l) =>
          new RegExp(`^partition ${p}: sent the \\d+ readings its takeover owed$`).test(
            String(l.message),
          ),
        ),
      ) || undefined,
    60_000,
  ).catch((err: Error) => {
    err.message += `\nmember logs:\n${clusterLog([a, b])}`;
    throw err;
  });
  for (const s of [a, b]) {
    const m = await http(s.url, 'GET', '/metrics');
    const gaps = /fleetsim_cluster_seq_gaps_total\{[^}]*\} (\d+)/.exec(m.body);
    assert.equal(Number(gaps?.[1] ?? 0), 0, `seq gaps on ${s.url}`);
    const producer = await http(s.url, 'GET', '/api/v1/producer');
    assert.equal(producer.body.dropped, 0, JSON.stringify(producer.body));
  }
  assert.deepEqual(
    (await Promise.all([terminate(a), terminate(b)])).map((e) => e.code),
    [0, 0],
  );
});
