import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isRetriable } from './kafka.sender.js';

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
