/**
 * Two processes of one cluster creating its topics at the same moment (FLEETSIM_WORKERS=2 at
 * their start): the one that loses the race finds the topic made and goes on. The library
 * reports the broker's TOPIC_ALREADY_EXISTS nested two levels deep, in errors whose messages
 * do not say it; a check of the message let one of two workers exit at its start.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { OwnershipGroup } from '../../src/cluster/ownership.group.js';
import { waitFor } from '../support/app.js';
import { testBrokers, uniqueTopic } from '../support/kafka.js';

function group(topic: string): OwnershipGroup {
  return new OwnershipGroup({
    brokers: testBrokers(),
    clientId: 'topic-race',
    groupId: `${topic}.members`,
    topic,
    sessionTimeoutMs: 10_000,
    rebalanceTimeoutMs: 10_000,
    changed: () => {},
    log: () => {},
    info: () => {},
  });
}

test('two members creating the ownership topic at once both go on, and the topic is made once', async (t) => {
  const a = group('');
  t.after(() => a.close());
  // Three rounds: in each, one of the two requests loses the broker's race.
  for (let round = 0; round < 3; round++) {
    const topic = uniqueTopic('topic-race');
    const [x, y] = [group(topic), group(topic)];
    try {
      await Promise.all([x.ensureTopic(4), y.ensureTopic(4)]);
      // Polled: a new topic takes a moment to appear in the brokers' metadata.
      const partitions = await waitFor(`${topic} in the metadata`, () => a.partitionsOf(topic));
      assert.equal(partitions, 4, `round ${round}: ${topic} has 4 partitions`);
    } finally {
      await Promise.all([x.close(), y.close()]);
    }
  }
});
