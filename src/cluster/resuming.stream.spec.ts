import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { ResumingStream } from './resuming.stream.js';

/** A consumer stream the test drives: it emits what the test says, and fails when told. */
class FakeStream extends EventEmitter {
  closed = false;
  async close(): Promise<void> {
    this.closed = true;
  }
}

async function until(what: string, check: () => boolean, ms = 2_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(2);
  }
}

test('a stream the client destroyed is opened again, and only the open one is read', async () => {
  const streams: FakeStream[] = [];
  const got: number[] = [];
  const logs: string[] = [];
  const reader = new ResumingStream<number>({
    open: async () => {
      const s = new FakeStream();
      streams.push(s);
      return s;
    },
    data: (n) => got.push(n),
    name: 'test reader',
    log: (m) => logs.push(m),
    retryMs: 1,
    maxRetryMs: 5,
  });
  await reader.start();
  assert.equal(streams.length, 1);
  streams[0].emit('data', 1);
  streams[0].emit('data', 2);
  // What the Kafka client does when a fetch failed retries + 1 times (a broker died).
  streams[0].emit('error', new Error('fetch failed 4 times.'));
  assert.equal(reader.open, false);
  streams[0].emit('data', 99); // late output of the failed stream: not taken
  await until('a second stream', () => streams.length === 2);
  assert.equal(reader.open, true);
  assert.equal(streams[0].closed, true, 'the failed stream is closed');
  streams[1].emit('data', 3);
  assert.deepEqual(got, [1, 2, 3]);
  assert.match(logs[0], /test reader failed \(fetch failed 4 times\.\): opening it again/);
  assert.match(logs.at(-1)!, /test reader opened again/);
  // And again: every failure is followed by another stream, for as long as the process runs.
  streams[1].emit('error', new Error('fetch failed 4 times.'));
  await until('a third stream', () => streams.length === 3);
  streams[2].emit('data', 4);
  assert.deepEqual(got, [1, 2, 3, 4]);
  await reader.close();
  assert.equal(streams[2].closed, true);
});

test('a stream that keeps failing to open is tried again with backoff until it opens', async () => {
  let refusals = 3;
  const streams: FakeStream[] = [];
  const logs: string[] = [];
  const reader = new ResumingStream<number>({
    open: async () => {
      if (streams.length > 0 && refusals > 0) {
        refusals--;
        throw new Error('Connection closed');
      }
      const s = new FakeStream();
      streams.push(s);
      return s;
    },
    data: () => {},
    name: 'test reader',
    log: (m) => logs.push(m),
    retryMs: 1,
    maxRetryMs: 5,
  });
  await reader.start();
  streams[0].emit('error', new Error('fetch failed 4 times.'));
  await until('a second stream', () => streams.length === 2);
  assert.equal(refusals, 0);
  assert.equal(reader.open, true);
  assert.equal(logs.filter((m) => m.includes('not opened again (Connection closed)')).length, 3);
  await reader.close();
});

test('after close, a failure opens nothing; a first open that fails rejects', async () => {
  const streams: FakeStream[] = [];
  const reader = new ResumingStream<number>({
    open: async () => {
      const s = new FakeStream();
      streams.push(s);
      return s;
    },
    data: () => {},
    name: 'test reader',
    log: () => {},
    retryMs: 1,
    maxRetryMs: 1,
  });
  await reader.start();
  await reader.close();
  streams[0].emit('error', new Error('fetch failed 4 times.'));
  await sleep(20);
  assert.equal(streams.length, 1);

  const refused = new ResumingStream<number>({
    open: () => Promise.reject(new Error('brokers unreachable')),
    name: 'test reader',
    log: () => {},
  });
  await assert.rejects(refused.start(), /brokers unreachable/);
});

test('without a data handler the stream is not read (the ownership group only subscribes)', async () => {
  const stream = new FakeStream();
  const reader = new ResumingStream<number>({
    open: async () => stream,
    name: 'test group stream',
    log: () => {},
  });
  await reader.start();
  assert.equal(stream.listenerCount('data'), 0, 'a data listener would make it fetch');
  assert.equal(stream.listenerCount('error'), 1);
  await reader.close();
});

test('a stream that opens and then fails again at once is opened again with a growing backoff, reset once it stays healthy', async () => {
  const opens: number[] = [];
  let failFast = 5;
  const streams: FakeStream[] = [];
  const reader = new ResumingStream<number>({
    open: async () => {
      const s = new FakeStream();
      streams.push(s);
      opens.push(performance.now());
      // Opens, then fails the same way (e.g. a JoinGroup that keeps failing).
      if (streams.length > 1 && failFast-- > 0) {
        setImmediate(() => s.emit('error', new Error('fetch failed 4 times.')));
      }
      return s;
    },
    data: () => {},
    name: 'test reader',
    log: () => {},
    retryMs: 10,
    maxRetryMs: 160,
  });
  await reader.start();
  streams[0].emit('error', new Error('fetch failed 4 times.'));
  await until('7 streams', () => streams.length === 7, 5_000);
  const gaps = opens.slice(1).map((t, i) => t - opens[i]);
  // 10, 20, 40, 80, 160 ms (±20 %), not 10 ms each.
  assert.ok(gaps[4] >= 60, `gaps ${gaps.map(Math.round).join(', ')} ms`);
  // Healthy for longer than maxRetryMs: the next failure is retried after retryMs again.
  await sleep(200);
  streams[6].emit('error', new Error('fetch failed 4 times.'));
  const failedAt = performance.now();
  await until('an 8th stream', () => streams.length === 8, 2_000);
  assert.ok(opens[7] - failedAt < 100, `reopened after ${Math.round(opens[7] - failedAt)} ms`);
  await reader.close();
});
