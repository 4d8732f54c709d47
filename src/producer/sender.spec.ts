import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { OutgoingRecord } from './outgoing.record.js';
import { byLane } from './sender.js';

const rec = (n: number, partition: number, topic?: string): OutgoingRecord => ({
  key: Buffer.from(String(n)),
  value: Buffer.from(String(n)),
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
