import assert from 'node:assert/strict';
import { test } from 'node:test';
import { http } from '../support/app.js';
import { uniqueTopic } from '../support/kafka.js';
import { spawnServer, terminate } from '../support/server.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

test('every request gets an id: kept from x-request-id, else generated, echoed, and on its log lines', async (t) => {
  const server = await spawnServer({
    KAFKA_TOPIC: uniqueTopic('request-id'),
    FLEETSIM_AUTOSTART: 'false',
    LOG_LEVEL: 'info',
  });
  t.after(() => server.kill());

  const given = await http(server.url, 'GET', '/api/v1/simulation', undefined, {
    'x-request-id': 'e2e-given-1',
  });
  assert.equal(given.status, 200);
  assert.equal(given.headers.get('x-request-id'), 'e2e-given-1');

  const generated = await http(server.url, 'GET', '/api/v1/simulation');
  const id = generated.headers.get('x-request-id') ?? '';
  assert.match(id, UUID);

  const unfit = await http(server.url, 'GET', '/api/v1/simulation', undefined, {
    'x-request-id': 'x'.repeat(200),
  });
  assert.match(unfit.headers.get('x-request-id') ?? '', UUID, 'an overlong id is replaced');

  // Problem bodies carry the id; the request's own log lines do too.
  const refused = await http(
    server.url,
    'PATCH',
    '/api/v1/config',
    { producer: { lingerMs: -1 } },
    { 'x-request-id': 'e2e-refused-1' },
  );
  assert.equal(refused.status, 400);
  assert.equal(refused.body.requestId, 'e2e-refused-1');
  const applied = await http(
    server.url,
    'PATCH',
    '/api/v1/config',
    { producer: { lingerMs: 7 } },
    { 'x-request-id': 'e2e-applied-1' },
  );
  assert.equal(applied.status, 200);

  const access = await server.waitForLine(
    'the access line of the given id',
    (l) => l.requestId === 'e2e-given-1' && l.context === 'HTTP',
  );
  assert.equal(access.level, 'log');
  assert.equal(access.method, 'GET');
  assert.equal(access.url, '/api/v1/simulation');
  assert.equal(access.status, 200);
  assert.equal(typeof access.durationMs, 'number');
  await server.waitForLine('the access line of the generated id', (l) => l.requestId === id);

  const change = await server.waitForLine(
    'the configuration change line',
    (l) => l.context === 'Config' && l.requestId === 'e2e-applied-1',
  );
  assert.deepEqual(change.changes, [{ path: 'producer.lingerMs', from: 5, to: 7 }]);
  const refusal = await server.waitForLine(
    'the refusal line',
    (l) => l.context === 'Config' && l.requestId === 'e2e-refused-1',
  );
  assert.equal(refusal.level, 'warn');
  await server.waitForLine(
    'the access line of the refused patch',
    (l) => l.context === 'HTTP' && l.requestId === 'e2e-refused-1' && l.status === 400,
  );

  // Scrapes and probes are logged at debug level only.
  const metrics = await http(server.url, 'GET', '/metrics', undefined, {
    'x-request-id': 'e2e-metrics-1',
  });
  assert.equal(metrics.status, 200);
  await http(server.url, 'GET', '/api/v1/simulation', undefined, { 'x-request-id': 'e2e-last' });
  await server.waitForLine('the last access line', (l) => l.requestId === 'e2e-last');
  assert.equal(
    server.lines.filter((l) => l.requestId === 'e2e-metrics-1').length,
    0,
    '/metrics is not logged at info level',
  );

  const exit = await terminate(server, 60_000);
  assert.equal(exit.code, 0);
});
