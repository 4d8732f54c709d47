import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  MultipleErrors,
  NetworkError,
  ProtocolError,
  ResponseError,
  TimeoutError,
  UserError,
} from '@platformatic/kafka';
import { isRetriable, kafkajsSendError } from '../../../src/producer/kafka.sender.js';
import {
  checkPlatformaticCodec,
  platformaticSendError,
} from '../../../src/producer/platformatic.sender.js';

test('kafkajs errors are classified by their retriable flag, through retry wrappers', () => {
  assert.equal(isRetriable({ name: 'KafkaJSConnectionError', retriable: true }), true);
  assert.equal(isRetriable({ name: 'KafkaJSProtocolError', retriable: false }), false);
  assert.equal(
    isRetriable({
      name: 'KafkaJSNumberOfRetriesExceeded',
      retriable: false,
      originalError: { name: 'KafkaJSConnectionError', retriable: true },
    }),
    true,
  );
  assert.equal(
    isRetriable({
      name: 'KafkaJSNonRetriableError',
      retriable: false,
      originalError: { name: 'KafkaJSConnectionError', retriable: false },
    }),
    true,
    'a refused connection is worth another try, whatever the wrapper says',
  );
  assert.equal(
    isRetriable({
      name: 'KafkaJSNonRetriableError',
      retriable: false,
      originalError: { name: 'KafkaJSProtocolError', retriable: false, type: 'MESSAGE_TOO_LARGE' },
    }),
    false,
  );
  assert.equal(isRetriable(new TypeError('bug')), false);
});

test('kafkajs errors become plain { retriable, type } errors with Kafka’s current names', () => {
  const notLeader = Object.assign(new Error('not the leader'), {
    name: 'KafkaJSProtocolError',
    type: 'NOT_LEADER_FOR_PARTITION',
    retriable: true,
  });
  const e = kafkajsSendError(notLeader);
  assert.ok(e instanceof Error);
  assert.deepEqual(
    [e.type, e.retriable, e.message],
    ['NOT_LEADER_OR_FOLLOWER', true, 'not the leader'],
  );
  const tooLarge = kafkajsSendError(
    Object.assign(new Error('too large'), {
      name: 'KafkaJSNonRetriableError',
      originalError: { name: 'KafkaJSProtocolError', type: 'MESSAGE_TOO_LARGE', retriable: false },
    }),
  );
  assert.deepEqual([tooLarge.type, tooLarge.retriable], ['MESSAGE_TOO_LARGE', false]);
  const refused = kafkajsSendError(
    Object.assign(new Error('ECONNREFUSED'), { name: 'KafkaJSConnectionError' }),
  );
  assert.deepEqual([refused.type, refused.retriable], ['NETWORK_EXCEPTION', true]);
  const slow = kafkajsSendError(
    Object.assign(new Error('timed out'), { name: 'KafkaJSRequestTimeoutError' }),
  );
  assert.deepEqual([slow.type, slow.retriable], ['REQUEST_TIMED_OUT', true]);
});

test('@platformatic/kafka errors become plain { retriable, type } errors', () => {
  const cases: Array<[unknown, string, boolean]> = [
    [new ProtocolError('NOT_LEADER_OR_FOLLOWER'), 'NOT_LEADER_OR_FOLLOWER', true],
    [new ProtocolError('MESSAGE_TOO_LARGE'), 'MESSAGE_TOO_LARGE', false],
    [new ProtocolError('TOPIC_AUTHORIZATION_FAILED'), 'TOPIC_AUTHORIZATION_FAILED', false],
    [new NetworkError('Connection refused'), 'NETWORK_EXCEPTION', true],
    // The library marks its own request timeout not retriable; the write may not have happened.
    [new TimeoutError('Request timed out'), 'REQUEST_TIMED_OUT', true],
    [
      new NetworkError('Client is closed.', { canRetry: false, closed: true }),
      'CLIENT_CLOSED',
      true,
    ],
    [new UserError('bad option'), 'CLIENT_ERROR', false],
    [new TypeError('bug'), 'UNKNOWN_SERVER_ERROR', false],
    // Retries and several brokers are aggregated; the latest cause decides.
    [
      new MultipleErrors('produce failed 3 times.', [
        new NetworkError('Connection refused'),
        new ProtocolError('NOT_ENOUGH_REPLICAS'),
      ]),
      'NOT_ENOUGH_REPLICAS',
      true,
    ],
  ];
  for (const [err, type, retriable] of cases) {
    const e = platformaticSendError(err);
    assert.ok(e instanceof Error);
    assert.deepEqual([e.type, e.retriable], [type, retriable], String(err));
    assert.equal(e.cause, err, 'the library error stays reachable as the cause');
  }
  const response = new ResponseError(
    0,
    11,
    { '/responses/0/partition_responses/1': [6, null] },
    {},
  );
  assert.equal(platformaticSendError(response).type, 'NOT_LEADER_OR_FOLLOWER');
});

test('@platformatic/kafka ships all five codecs on this Node', () => {
  for (const codec of ['none', 'gzip', 'snappy', 'lz4', 'zstd'] as const) {
    assert.doesNotThrow(() => checkPlatformaticCodec(codec), codec);
  }
});
