import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  KafkaSender,
  kafkajsSendError,
  mayHaveBeenWritten,
} from '../../../src/producer/kafka.sender.js';
import { PlatformaticSender } from '../../../src/producer/platformatic.sender.js';
import type { SenderOptions } from '../../../src/producer/sender.js';

const OPTIONS: SenderOptions = {
  brokers: ['127.0.0.1:1'],
  clientId: 'fleetsim-test',
  topic: 'readings',
  topicPartitions: 6,
  topicReplicationFactor: 1,
  requiredAcks: -1,
  compression: 'none',
  idempotent: true,
  maxInFlightRequests: 5,
};

test('before the broker reported the partition count, neither engine routes by the configured one', () => {
  for (const sender of [new PlatformaticSender(OPTIONS), new KafkaSender(OPTIONS)]) {
    assert.equal(sender.partition(12345), -1, `${sender.constructor.name}: unknown yet`);
    assert.equal(sender.partition(12345, 'readings'), -1);
    assert.equal(sender.partitionCount, 0, 'no count is claimed before the broker says it');
  }
});

test('idempotence forces acks=-1; acks=0 without it is kept', () => {
  assert.equal(new PlatformaticSender({ ...OPTIONS, requiredAcks: 0 }).acks, -1);
  assert.equal(new KafkaSender({ ...OPTIONS, requiredAcks: 0 }).acks, -1);
  const plain = { ...OPTIONS, idempotent: false, requiredAcks: 0 as const };
  assert.equal(new PlatformaticSender(plain).acks, 0);
  assert.equal(new KafkaSender(plain).acks, 0);
});

test('a platformatic sender takes over another’s producer id and sequence numbers at a swap', () => {
  const previous = new PlatformaticSender(OPTIONS);
  const next = new PlatformaticSender({ ...OPTIONS, compression: 'gzip' });
  assert.equal(next.adoptProducerState(previous), false, 'nothing to take before a send');
  const state = previous as unknown as {
    producerInfo: { producerId: bigint; producerEpoch: number };
    sequences: Map<string, number>;
  };
  state.producerInfo = { producerId: 42n, producerEpoch: 3 };
  state.sequences.set('readings:1', 1000);
  assert.equal(previous.producerIdentity(), '42:3');
  assert.equal(next.adoptProducerState(previous), true);
  assert.equal(next.producerIdentity(), '42:3', 'the same producer id and epoch');
  assert.equal(
    (next as unknown as { sequences: Map<string, number> }).sequences.get('readings:1'),
    1000,
    'retries carry the sequence numbers the broker expects',
  );
  for (const other of [
    new PlatformaticSender({ ...OPTIONS, topic: 'other' }),
    new PlatformaticSender({ ...OPTIONS, idempotent: false }),
  ]) {
    assert.equal(other.adoptProducerState(previous), false);
  }
  assert.equal(
    new PlatformaticSender({ ...OPTIONS, idempotent: false }).producerIdentity(),
    undefined,
  );
});

test('a kafkajs sender cannot take over a producer id: each client is its own identity', () => {
  const a = new KafkaSender(OPTIONS);
  const b = new KafkaSender(OPTIONS);
  assert.equal(b.adoptProducerState(), false);
  assert.notEqual(a.producerIdentity(), b.producerIdentity());
  assert.equal(new KafkaSender({ ...OPTIONS, idempotent: false }).producerIdentity(), undefined);
});

test('a kafkajs send may have been written when no answer came, not when refused or never connected', () => {
  const timeout = { name: 'KafkaJSRequestTimeoutError', message: 'Request Produce timed out' };
  assert.equal(mayHaveBeenWritten(timeout, kafkajsSendError(timeout)), true);
  const refused = {
    name: 'KafkaJSConnectionError',
    message: 'Connection error: connect ECONNREFUSED 127.0.0.1:9092',
  };
  assert.equal(mayHaveBeenWritten(refused, kafkajsSendError(refused)), false);
  const protocol = {
    name: 'KafkaJSProtocolError',
    type: 'NOT_LEADER_FOR_PARTITION',
    retriable: true,
    message: 'not the leader',
  };
  assert.equal(mayHaveBeenWritten(protocol, kafkajsSendError(protocol)), false);
});
