import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type OutgoingRecord, ownValue } from './outgoing.record.js';
import { byLane, TopicPartitions } from './sender.js';

const rec = (n: number, partition: number, topic?: string): OutgoingRecord => ({
  key: Buffer.from(String(n)),
  ...ownValue(Buffer.from(String(n))),
  hash: n,
  topic,
  partition,
  scheduledAt: n,
});

void test('byLane groups by topic and partition, in order, whether lanes come in runs or interleaved', () => {
  const records = [
    rec(1, 0),
    rec(2, 0),
    rec(3, 1),
    rec(4, 0, 'other'),
    rec(5, 1),
    rec(6, 0),
    rec(7, 0, 'other'),
    rec(8, 0, 't'),
    rec(9, 2),
  ];
  const lanes = byLane(records, 't');
  const seen = [...lanes].map(([topic, groups]) => [
    topic,
    [...groups].map(([p, list]) => [p, list.map((r) => r.hash)]),
  ]);
  assert.deepEqual(seen, [
    [
      't',
      [
        [0, [1, 2, 6, 8]],
        [1, [3, 5]],
        [2, [9]],
      ],
    ],
    ['other', [[0, [4, 7]]]],
  ]);
});

test('TopicPartitions routes by reported counts and shares one look-up per topic', async () => {
  const counts = new TopicPartitions('readings');
  assert.equal(counts.partition(7), -1, 'the configured topic waits for its reported count');
  counts.update('readings', 0);
  assert.equal(counts.partition(7), -1, 'a count of 0 is no count');
  counts.update('readings', 3);
  assert.equal(counts.partition(7), 1);
  assert.equal(counts.partition(7, 'readings'), 1);

  assert.equal(counts.partition(7, 'labels'), -1);
  counts.update('labels', 4);
  assert.equal(counts.partition(7, 'labels'), -1, 'a topic never asked for is not adopted');
  let lookUps = 0;
  let answer!: (n: number) => void;
  const lookUp = () => {
    lookUps++;
    return new Promise<number>((resolve) => (answer = resolve));
  };
  const first = counts.prepare('labels', lookUp);
  const second = counts.prepare('labels', lookUp);
  answer(4);
  await Promise.all([first, second]);
  assert.equal(lookUps, 1, 'concurrent asks share one look-up');
  assert.equal(counts.partition(7, 'labels'), 3);
  await counts.prepare('labels', lookUp);
  assert.equal(lookUps, 1, 'a known topic is not looked up again');
  counts.update('labels', 5);
  assert.equal(counts.partition(7, 'labels'), 2, 'a changed count is adopted');
  assert.deepEqual(counts.topics(), ['readings', 'labels']);
  assert.deepEqual(new TopicPartitions('{fleetId}.readings').topics(), []);

  await assert.rejects(
    counts.prepare('gone', () => Promise.reject(new Error('refused'))),
    /refused/,
  );
  const retried = counts.prepare('gone', () => Promise.resolve(2));
  await retried;
  assert.equal(counts.partition(7, 'gone'), 1, 'a failed look-up is tried again on the next ask');
});
