import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DomainError } from '../model/domain.error.js';
import { type ControlRecord, ControlStore, type ControlStoreOptions } from './control.store.js';

/** A store whose producer is faked (offsets 0, 1, …) and whose records the test hands in. */
function store(options: Partial<ControlStoreOptions> = {}) {
  const applied: ControlRecord[] = [];
  const logs: string[] = [];
  const s = new ControlStore({
    brokers: ['127.0.0.1:1'],
    clientId: 'test',
    topic: 'test.control',
    apply: (r) => void applied.push(r),
    log: (m) => logs.push(m),
    ...options,
  });
  let next = 0;
  const internals = s as unknown as {
    producer: { send: () => Promise<unknown>; close: () => Promise<void> };
    take: (m: { offset: bigint; key: string; value?: string }) => void;
  };
  internals.producer = {
    send: async () => ({ offsets: [{ offset: BigInt(next++) }] }),
    close: async () => {},
  };
  /** The reader takes record `offset` from the topic. */
  const take = (offset: number, key: string, value?: string) =>
    internals.take({ offset: BigInt(offset), key, value });
  return { s, applied, logs, take };
}

test('a write that this member does not apply in time answers UNAVAILABLE; the record applies later', async () => {
  const { s, applied, take } = store({ applyTimeoutMs: 30 });
  const written = s.write('fleet', 'a', { n: 1 });
  await assert.rejects(written, (err: unknown) => {
    assert.ok(err instanceof DomainError);
    assert.equal(err.code, 'UNAVAILABLE');
    assert.match(err.message, /fleet:a was written to the control topic \(offset 0\)/);
    return true;
  });
  take(0, 'fleet:a', '{"n":1}'); // the reader is back
  await s.until(0);
  assert.deepEqual(applied, [{ kind: 'fleet', id: 'a', value: { n: 1 }, offset: 0 }]);
  // Applied in time: resolves.
  const second = s.write('fleet', 'b', null);
  take(1, 'fleet:b');
  await second;
  await s.close();
});

test('closing the store rejects every wait, and every later write', async () => {
  const { s } = store(); // no deadline: only the close ends the wait
  const written = s.write('simulation', 'state', { running: false });
  const waiting = s.until(5);
  await new Promise((r) => setImmediate(r));
  await s.close();
  await assert.rejects(written, /closed/);
  await assert.rejects(waiting, /closed/);
  await assert.rejects(s.write('fleet', 'a', {}), /closed/);
});

test('fail() answers the waiting writes at once (shutdown)', async () => {
  const { s } = store();
  const written = s.write('fleet', 'a', {});
  await new Promise((r) => setImmediate(r));
  s.fail(new DomainError('UNAVAILABLE', 'shutting down'));
  await assert.rejects(written, /shutting down/);
  await s.close();
});

test('a record that does not parse is logged with its key and offset, and the next one applies', async () => {
  const { s, applied, logs, take } = store();
  take(0, 'fleet:bad', '{not json');
  take(1, 'fleet:good', '{"n":2}');
  await s.until(1);
  assert.deepEqual(
    applied.map((r) => r.id),
    ['good'],
  );
  assert.equal(logs.length, 1);
  assert.match(logs[0], /control record fleet:bad@0 not applied: .*JSON/);
  await s.close();
});
