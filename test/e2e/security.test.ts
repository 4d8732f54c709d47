/**
 * The guarded control plane over real HTTP: API keys (read and operate, Bearer and x-api-key,
 * from the environment and from a file), 401/403 problems, the loopback rule without keys,
 * JSON content types, CORS, ETag/If-Match, Location, the limits and the rate limit.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { projectRoot } from '../../src/kafka/project-root.js';
import { startApp, type TestApp } from '../support/app.js';
import { testBrokers, uniqueTopic } from '../support/kafka.js';
import { spawnServer } from '../support/server.js';

const OPS = 'ops-secret-0123456789abcdef';
const VIEWER = 'viewer-secret-0123456789abcdef';
const OTHER = 'other-ops-secret-0123456789';
const PROBLEM = /^application\/problem\+json/;

interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  body: any;
}

/** One HTTP request with exactly these headers and body (node:http, no defaults added). */
function raw(
  url: string,
  method: string,
  path: string,
  headers: Record<string, string> = {},
  body?: string,
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(`${url}${path}`, { method, headers }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => {
        let parsed: unknown = text;
        try {
          parsed = text ? JSON.parse(text) : undefined;
        } catch {
          // not JSON
        }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: parsed });
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

function assertProblem(res: Answer, status: number, title: string, detail: string, path: string) {
  assert.equal(res.status, status, JSON.stringify(res.body));
  assert.match(String(res.headers['content-type']), PROBLEM);
  const { requestId, ...rest } = res.body;
  assert.equal(typeof requestId, 'string');
  assert.deepEqual(rest, { type: 'about:blank', title, status, detail, instance: path });
}

const json = { 'content-type': 'application/json' };
const bearer = (key: string) => ({ authorization: `Bearer ${key}` });
const fleetBody = (name: string, deviceCount = 10, intervalMs = 1000) =>
  JSON.stringify({ name, deviceCount, intervalMs });

describe('with API keys', () => {
  let t: TestApp;
  before(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fleetsim-keys-'));
    const file = join(dir, 'api-keys');
    writeFileSync(file, `# read-only dashboards\nviewer:read:${VIEWER}\n`);
    t = await startApp({
      KAFKA_TOPIC: uniqueTopic('security-keys'),
      FLEETSIM_AUTOSTART: 'false',
      FLEETSIM_API_KEYS: `ops:operate:${OPS}`,
      FLEETSIM_API_KEYS_FILE: file,
    });
  });
  after(() => t?.close());

  test('no key is 401 with WWW-Authenticate; an unknown or malformed key too', async () => {
    const missing = await raw(t.url, 'GET', '/api/v1/fleets');
    assertProblem(
      missing,
      401,
      'Unauthorized',
      'an API key is required: send it as "Authorization: Bearer <key>" or "x-api-key: <key>"',
      '/api/v1/fleets',
    );
    assert.equal(missing.headers['www-authenticate'], 'Bearer realm="fleetsim"');

    for (const headers of [bearer(`${OPS}x`), { 'x-api-key': OPS.slice(0, -1) }]) {
      const wrong = await raw(t.url, 'POST', '/api/v1/simulation/stop', headers);
      assertProblem(
        wrong,
        401,
        'Unauthorized',
        'the API key is not valid',
        '/api/v1/simulation/stop',
      );
      assert.equal(
        wrong.headers['www-authenticate'],
        'Bearer realm="fleetsim", error="invalid_token"',
      );
    }
    const basic = await raw(t.url, 'GET', '/api/v1/fleets', { authorization: 'Basic b3BzOnB3' });
    assertProblem(
      basic,
      401,
      'Unauthorized',
      'the API key must be sent as "Authorization: Bearer <key>" or "x-api-key: <key>"',
      '/api/v1/fleets',
    );
  });

  test('a read key reads (Bearer or x-api-key) and gets 403 on a change', async () => {
    assert.equal((await raw(t.url, 'GET', '/api/v1/fleets', bearer(VIEWER))).status, 200);
    assert.equal((await raw(t.url, 'GET', '/api/v1/fleets', { 'x-api-key': VIEWER })).status, 200);
    assert.equal((await raw(t.url, 'HEAD', '/api/v1/simulation', bearer(VIEWER))).status, 200);
    const refused = await raw(
      t.url,
      'POST',
      '/api/v1/fleets',
      { ...bearer(VIEWER), ...json },
      fleetBody('viewer-fleet'),
    );
    assertProblem(
      refused,
      403,
      'Forbidden',
      'API key "viewer" has the read role, which may only read (GET, HEAD); POST needs a key with the operate role',
      '/api/v1/fleets',
    );
    assert.equal((await raw(t.url, 'GET', '/api/v1/fleets/viewer-fleet', bearer(OPS))).status, 404);
  });

  test('an operate key changes things; 201 has Location and ETag', async () => {
    const created = await raw(
      t.url,
      'POST',
      '/api/v1/fleets',
      { 'x-api-key': OPS, ...json },
      fleetBody('Keyed Fleet'),
    );
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.equal(created.headers.location, '/api/v1/fleets/keyed-fleet');
    const read = await raw(t.url, 'GET', created.headers.location!, bearer(VIEWER));
    assert.equal(read.status, 200);
    assert.equal(read.body.id, 'keyed-fleet');
    assert.equal(read.headers.etag, created.headers.etag);
  });

  test('with a key, a body-less action needs no content type; a body still needs JSON', async () => {
    const stop = await raw(t.url, 'POST', '/api/v1/simulation/stop', bearer(OPS));
    assert.equal(stop.status, 200, JSON.stringify(stop.body));
    assertProblem(
      await raw(
        t.url,
        'POST',
        '/api/v1/fleets',
        { ...bearer(OPS), 'content-type': 'text/plain' },
        fleetBody('x'),
      ),
      415,
      'Unsupported Media Type',
      'POST takes application/json, not text/plain',
      '/api/v1/fleets',
    );
    assertProblem(
      await raw(t.url, 'POST', '/api/v1/fleets', bearer(OPS), fleetBody('x')),
      415,
      'Unsupported Media Type',
      'POST with a body needs content-type: application/json',
      '/api/v1/fleets',
    );
  });

  test('health, metrics and the API docs stay open; the docs describe both key schemes', async () => {
    assert.equal((await raw(t.url, 'GET', '/health/live')).status, 200);
    assert.equal((await raw(t.url, 'GET', '/metrics')).status, 200);
    assert.equal((await raw(t.url, 'GET', '/docs')).status, 200);
    const doc = await raw(t.url, 'GET', '/docs/openapi.json');
    assert.equal(doc.status, 200);
    assert.deepEqual(doc.body.components.securitySchemes, {
      bearer: {
        type: 'http',
        scheme: 'bearer',
        bearerFormat: 'API key',
        description: 'An API key: `Authorization: Bearer <key>`',
      },
      apiKey: {
        type: 'apiKey',
        in: 'header',
        name: 'x-api-key',
        description: 'An API key: `x-api-key: <key>`',
      },
    });
    assert.deepEqual(doc.body.security, [{ bearer: [] }, { apiKey: [] }]);
    assert.deepEqual(doc.body.paths['/health/live'].get.security, [
      {},
      { bearer: [] },
      { apiKey: [] },
    ]);
    // The Swagger UI sends body-less changes as JSON (allowed without a key on loopback).
    const init = await raw(t.url, 'GET', '/docs/swagger-ui-init.js');
    assert.match(String(init.body), /requestInterceptor/);
    assert.match(String(init.body), /"persistAuthorization": ?true/);
  });

  test('no secret shows in GET /api/v1/config', async () => {
    const res = await raw(t.url, 'GET', '/api/v1/config', bearer(VIEWER));
    assert.equal(res.status, 200);
    const text = JSON.stringify(res.body);
    for (const secret of [OPS, VIEWER]) assert.ok(!text.includes(secret));
    assert.equal(res.body.config.server.auth.healthRequiresKey, false);
  });
});

describe('health and metrics behind a key when configured', () => {
  let t: TestApp;
  before(async () => {
    t = await startApp({
      KAFKA_TOPIC: uniqueTopic('security-probes'),
      FLEETSIM_AUTOSTART: 'false',
      FLEETSIM_API_KEYS: `viewer:read:${VIEWER}`,
      FLEETSIM_AUTH_HEALTH: 'true',
      FLEETSIM_AUTH_METRICS: 'true',
    });
  });
  after(() => t?.close());

  test('/health/* and /metrics need a key, a read key is enough', async () => {
    for (const path of ['/health/live', '/health/ready', '/metrics']) {
      assert.equal((await raw(t.url, 'GET', path)).status, 401, path);
      assert.equal((await raw(t.url, 'GET', path, bearer(VIEWER))).status, 200, path);
    }
  });
});

describe('without API keys', () => {
  let t: TestApp;
  let port: number;
  before(async () => {
    t = await startApp({
      KAFKA_TOPIC: uniqueTopic('security-nokeys'),
      FLEETSIM_AUTOSTART: 'false',
      FLEETSIM_MAX_DEVICES: '1000',
      FLEETSIM_MAX_TARGET_RATE: '500',
      FLEETSIM_MAX_ANOMALY_DEVICES: '50',
    });
    port = Number(new URL(t.url).port);
  });
  after(() => t?.close());

  test('a body-less change without a content type is 415; with application/json it runs', async () => {
    assertProblem(
      await raw(t.url, 'POST', '/api/v1/simulation/stop'),
      415,
      'Unsupported Media Type',
      'POST without an API key needs content-type: application/json, even without a body ' +
        '(browsers send body-less requests without a content type across sites without asking first)',
      '/api/v1/simulation/stop',
    );
    assertProblem(
      await raw(t.url, 'DELETE', '/api/v1/fleets/none'),
      415,
      'Unsupported Media Type',
      'DELETE without an API key needs content-type: application/json, even without a body ' +
        '(browsers send body-less requests without a content type across sites without asking first)',
      '/api/v1/fleets/none',
    );
    // A form post, as a web page can send cross-site without asking first.
    assertProblem(
      await raw(
        t.url,
        'POST',
        '/api/v1/simulation/start',
        { 'content-type': 'application/x-www-form-urlencoded' },
        'a=1',
      ),
      415,
      'Unsupported Media Type',
      'POST takes application/json, not application/x-www-form-urlencoded',
      '/api/v1/simulation/start',
    );
    const stop = await raw(t.url, 'POST', '/api/v1/simulation/stop', json);
    assert.equal(stop.status, 200, JSON.stringify(stop.body));
    // A key sent to a server without keys counts for nothing.
    assert.equal((await raw(t.url, 'POST', '/api/v1/simulation/stop', bearer(OPS))).status, 415);
  });

  test('changes addressed to a non-loopback name are refused (DNS rebinding)', async () => {
    const res = await raw(t.url, 'POST', '/api/v1/simulation/stop', {
      ...json,
      host: `rebound.example:${port}`,
    });
    assertProblem(
      res,
      403,
      'Forbidden',
      `no API key is configured, so fleetsim only takes changes addressed to localhost, 127.0.0.1 or [::1], not to "rebound.example:${port}" ` +
        '(this stops web pages from reaching it by DNS rebinding); set FLEETSIM_API_KEYS to lift it (docs/security.md)',
      '/api/v1/simulation/stop',
    );
    const localhost = await raw(t.url, 'POST', '/api/v1/simulation/stop', {
      ...json,
      host: `localhost:${port}`,
    });
    assert.equal(localhost.status, 200);
  });

  test('changes from a client that is not on loopback are 403; reads are served', async () => {
    const detail =
      'no API key is configured, so fleetsim only takes changes from this machine (loopback clients); ' +
      'set FLEETSIM_API_KEYS or FLEETSIM_API_KEYS_FILE to take them from elsewhere (docs/security.md)';
    // Tests send traffic only to loopback, so a peer that is not on loopback is stood in for
    // by Fastify's injected request with a remote address (the same hooks, no socket).
    for (const remoteAddress of ['192.0.2.77', '2001:db8::7', '::ffff:192.0.2.77']) {
      const res = await t.app.inject({
        method: 'POST',
        url: '/api/v1/simulation/stop',
        headers: json,
        remoteAddress,
      });
      assert.equal(res.statusCode, 403, remoteAddress);
      assert.match(String(res.headers['content-type']), /^application\/problem\+json/);
      assert.equal(res.json().detail, detail);
      const read = await t.app.inject({ method: 'GET', url: '/api/v1/simulation', remoteAddress });
      assert.equal(read.statusCode, 200, remoteAddress);
    }
  });

  test('ETag and If-Match on the configuration: 412 on a stale version, nothing changed', async () => {
    const first = await raw(t.url, 'GET', '/api/v1/config');
    const etag = first.headers.etag!;
    assert.match(etag, /^"[0-9a-f]{8}-\d+"$/);
    const patched = await raw(
      t.url,
      'PATCH',
      '/api/v1/config',
      { ...json, 'if-match': etag },
      JSON.stringify({ producer: { lingerMs: 7 } }),
    );
    assert.equal(patched.status, 200, JSON.stringify(patched.body));
    assert.notEqual(patched.headers.etag, etag);
    assert.equal((await raw(t.url, 'GET', '/api/v1/config')).headers.etag, patched.headers.etag);

    const stale = await raw(
      t.url,
      'PATCH',
      '/api/v1/config',
      { ...json, 'if-match': etag },
      JSON.stringify({ producer: { lingerMs: 9 } }),
    );
    assert.equal(stale.status, 412);
    assert.match(String(stale.headers['content-type']), PROBLEM);
    assert.equal(stale.body.title, 'Precondition Failed');
    assert.equal(
      stale.body.detail,
      `the configuration has changed since you read it (If-Match ${etag}, now ${patched.headers.etag}): read it again and retry; nothing was changed`,
    );
    assert.equal((await raw(t.url, 'GET', '/api/v1/config')).body.config.producer.lingerMs, 7);

    // A patch invalid in itself is 400 whatever version If-Match names (412 is for valid ones).
    const invalidStale = await raw(
      t.url,
      'PATCH',
      '/api/v1/config',
      { ...json, 'if-match': etag },
      JSON.stringify({ producer: { lingerMs: -1 } }),
    );
    assert.equal(invalidStale.status, 400, JSON.stringify(invalidStale.body));
    assert.equal(invalidStale.body.errors[0].field, 'producer.lingerMs');
  });

  test('ETag and If-Match on a fleet; Location on created fleets and anomalies', async () => {
    const created = await raw(t.url, 'POST', '/api/v1/fleets', json, fleetBody('Tagged', 100));
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.equal(created.headers.location, '/api/v1/fleets/tagged');
    const etag = (await raw(t.url, 'GET', '/api/v1/fleets/tagged')).headers.etag!;
    assert.equal(etag, created.headers.etag);
    const scaled = await raw(
      t.url,
      'PATCH',
      '/api/v1/fleets/tagged',
      { ...json, 'if-match': etag },
      JSON.stringify({ deviceCount: 120 }),
    );
    assert.equal(scaled.status, 200, JSON.stringify(scaled.body));
    assert.notEqual(scaled.headers.etag, etag);
    const stale = await raw(
      t.url,
      'PATCH',
      '/api/v1/fleets/tagged',
      { ...json, 'if-match': etag },
      JSON.stringify({ deviceCount: 130 }),
    );
    assert.equal(stale.status, 412);
    assert.equal(stale.body.etag, scaled.headers.etag);
    // A body invalid in itself is 400 whatever version If-Match names (412 is for valid ones).
    const emptyStale = await raw(
      t.url,
      'PATCH',
      '/api/v1/fleets/tagged',
      { ...json, 'if-match': etag },
      '{}',
    );
    assert.equal(emptyStale.status, 400, JSON.stringify(emptyStale.body));
    assert.deepEqual(
      emptyStale.body.errors.map((e: { field: string; rule: string }) => [e.field, e.rule]),
      [['deviceCount', 'required']],
    );
    assert.equal((await raw(t.url, 'GET', '/api/v1/fleets/tagged')).body.deviceCount, 120);

    const injected = await raw(
      t.url,
      'POST',
      '/api/v1/anomalies',
      json,
      JSON.stringify({
        target: { fleetId: 'tagged', building: 1, floor: 1, room: 1 },
        sensor: 'temperature',
        kind: 'spike',
        durationMs: 60_000,
      }),
    );
    assert.equal(injected.status, 201, JSON.stringify(injected.body));
    assert.equal(injected.headers.location, `/api/v1/anomalies/${injected.body.id}`);
    assert.equal((await raw(t.url, 'GET', injected.headers.location!)).status, 200);
  });

  test('limits: devices, target rate and anomaly devices are 422 naming the field and the limit', async () => {
    const tooMany = await raw(
      t.url,
      'POST',
      '/api/v1/fleets',
      json,
      fleetBody('Huge', 1000, 10_000),
    );
    const devicesMessage =
      'that would make 1120 devices in all; fleetsim runs at most 1000 (limits.maxDevices)';
    assert.equal(tooMany.status, 422, JSON.stringify(tooMany.body));
    assert.match(String(tooMany.headers['content-type']), PROBLEM);
    assert.equal(tooMany.body.detail, devicesMessage);
    assert.deepEqual(tooMany.body.errors, [
      { field: 'deviceCount', rule: 'maxDevices', message: devicesMessage },
    ]);
    assert.equal(tooMany.body.limit, 1000);

    // 120 devices at 1/s already; 400 more at 1/s is 520/s.
    const tooFast = await raw(t.url, 'POST', '/api/v1/fleets', json, fleetBody('Fast', 400, 1000));
    const rateMessage =
      'that would make the fleets target 520 readings/s in all; fleetsim runs at most 500 (limits.maxTargetRate)';
    assert.equal(tooFast.status, 422, JSON.stringify(tooFast.body));
    assert.deepEqual(tooFast.body.errors, [
      { field: 'deviceCount', rule: 'maxTargetRate', message: rateMessage },
    ]);
    const retimed = await raw(
      t.url,
      'PATCH',
      '/api/v1/fleets/tagged',
      json,
      JSON.stringify({ intervalMs: 200 }),
    );
    assert.equal(retimed.status, 422);
    assert.equal(retimed.body.errors[0].rule, 'maxTargetRate');

    const wide = await raw(
      t.url,
      'POST',
      '/api/v1/anomalies',
      json,
      JSON.stringify({
        target: { fleetId: 'tagged' },
        sensor: 'temperature',
        kind: 'drift',
        durationMs: 60_000,
      }),
    );
    assert.equal(wide.status, 422, JSON.stringify(wide.body));
    assert.equal(wide.body.errors[0].field, 'target');
    assert.equal(wide.body.errors[0].rule, 'maxAnomalyDevices');
    assert.match(
      wide.body.detail,
      /^target: that would make \d+ devices targeted by scheduled or active anomalies; fleetsim allows at most 50 \(limits\.maxAnomalyDevices\)/,
    );
  });

  test('limits: bufferMemory, shutdownFlushMs and batchSize are 422 naming the field and the limit', async () => {
    const res = await raw(
      t.url,
      'PATCH',
      '/api/v1/config',
      json,
      JSON.stringify({
        producer: {
          bufferMemory: 4 * 1024 * 1024 * 1024,
          shutdownFlushMs: 26_000,
          batchSize: 200_000,
        },
      }),
    );
    assert.equal(res.status, 422, JSON.stringify(res.body));
    assert.deepEqual(
      res.body.errors.map((e: { field: string; rule: string }) => [e.field, e.rule]),
      [
        ['producer.bufferMemory', 'maxProcessMemory'],
        ['producer.shutdownFlushMs', 'withinGracePeriod'],
        ['producer.batchSize', 'maxBatchSize'],
      ],
    );
    assert.match(
      res.body.errors[0].message,
      /^producer\.bufferMemory must not be greater than \d+ bytes \(limits\.bufferMemoryFraction 0\.5 of the \d+ bytes this process may use\)$/,
    );
    assert.equal(
      res.body.errors[1].message,
      'producer.shutdownFlushMs must not be greater than 25000 (server.shutdownGraceMs 30000 less 5000 ms for the rest of the shutdown)',
    );
    assert.equal(
      res.body.errors[2].message,
      'producer.batchSize must not be greater than 100000 (limits.maxBatchSize)',
    );
    const limits = await raw(
      t.url,
      'PATCH',
      '/api/v1/config',
      json,
      '{"limits":{"maxDevices":5000}}',
    );
    assert.equal(limits.status, 409, 'limits cannot be lifted through the API');
  });
});

describe('CORS and If-Match required', () => {
  let t: TestApp;
  before(async () => {
    t = await startApp({
      KAFKA_TOPIC: uniqueTopic('security-cors'),
      FLEETSIM_AUTOSTART: 'false',
      FLEETSIM_API_KEYS: `ops:operate:${OPS}`,
      FLEETSIM_CORS_ORIGINS: 'https://ops.example.com',
      FLEETSIM_REQUIRE_IF_MATCH: 'true',
    });
  });
  after(() => t?.close());

  const preflight = (origin: string) =>
    raw(t.url, 'OPTIONS', '/api/v1/fleets', {
      origin,
      'access-control-request-method': 'POST',
      'access-control-request-headers': 'authorization, content-type',
    });

  test('a preflight from a listed origin is allowed, from another refused', async () => {
    const allowed = await preflight('https://ops.example.com');
    assert.equal(allowed.status, 204);
    assert.equal(allowed.headers['access-control-allow-origin'], 'https://ops.example.com');
    assert.equal(allowed.headers['access-control-allow-methods'], 'GET, HEAD, POST, PATCH, DELETE');
    assert.match(String(allowed.headers['access-control-allow-headers']), /authorization/);
    assert.match(String(allowed.headers['access-control-allow-headers']), /if-match/);

    const denied = await preflight('https://evil.example');
    assertProblem(
      denied,
      403,
      'Forbidden',
      'origin https://evil.example may not call this API from a browser: cross-origin requests are refused unless server.cors.origins (FLEETSIM_CORS_ORIGINS) lists the origin',
      '/api/v1/fleets',
    );
    assert.equal(denied.headers['access-control-allow-origin'], undefined);

    const read = await raw(t.url, 'GET', '/api/v1/fleets', {
      ...bearer(OPS),
      origin: 'https://ops.example.com',
    });
    assert.equal(read.headers['access-control-allow-origin'], 'https://ops.example.com');
    assert.match(String(read.headers['access-control-expose-headers']), /etag/);
    const other = await raw(t.url, 'GET', '/api/v1/fleets', {
      ...bearer(OPS),
      origin: 'https://evil.example',
    });
    assert.equal(other.headers['access-control-allow-origin'], undefined);
  });

  test('with server.requireIfMatch, a PATCH without If-Match is 428', async () => {
    const headers = { ...bearer(OPS), ...json };
    const patch = await raw(
      t.url,
      'PATCH',
      '/api/v1/config',
      headers,
      '{"producer":{"lingerMs":8}}',
    );
    assertProblem(
      patch,
      428,
      'Precondition Required',
      'changing the configuration needs an If-Match header with the ETag of the version you read (server.requireIfMatch)',
      '/api/v1/config',
    );
    const etag = (await raw(t.url, 'GET', '/api/v1/config', bearer(OPS))).headers.etag!;
    const applied = await raw(
      t.url,
      'PATCH',
      '/api/v1/config',
      { ...headers, 'if-match': etag },
      '{"producer":{"lingerMs":8}}',
    );
    assert.equal(applied.status, 200);

    assert.equal(
      (await raw(t.url, 'POST', '/api/v1/fleets', headers, fleetBody('cors'))).status,
      201,
    );
    const scale = await raw(t.url, 'PATCH', '/api/v1/fleets/cors', headers, '{"deviceCount":5}');
    assert.equal(scale.status, 428);
    assert.equal(
      scale.body.detail,
      'changing fleet cors needs an If-Match header with the ETag of the version you read (server.requireIfMatch)',
    );
    const scaled = await raw(
      t.url,
      'PATCH',
      '/api/v1/fleets/cors',
      { ...headers, 'if-match': '*' },
      '{"deviceCount":5}',
    );
    assert.equal(scaled.status, 200);
  });
});

describe('rate limit', () => {
  let t: TestApp;
  before(async () => {
    t = await startApp({
      KAFKA_TOPIC: uniqueTopic('security-rate'),
      FLEETSIM_AUTOSTART: 'false',
      FLEETSIM_API_KEYS: `ops:operate:${OPS},other:operate:${OTHER}`,
      FLEETSIM_RATE_LIMIT_MAX: '3',
      FLEETSIM_RATE_LIMIT_WINDOW_MS: '60000',
    });
  });
  after(() => t?.close());

  test('past the limit a client gets 429 with Retry-After; other keys, health and metrics do not', async () => {
    for (let i = 0; i < 3; i++) {
      const ok = await raw(t.url, 'GET', '/api/v1/simulation', bearer(OPS));
      assert.equal(ok.status, 200);
      assert.equal(ok.headers['x-ratelimit-remaining'], String(2 - i));
    }
    const limited = await raw(t.url, 'GET', '/api/v1/simulation', bearer(OPS));
    assert.equal(limited.status, 429);
    assert.match(String(limited.headers['content-type']), PROBLEM);
    const retryAfter = Number(limited.headers['retry-after']);
    assert.ok(retryAfter > 0 && retryAfter <= 60, String(limited.headers['retry-after']));
    assert.equal(limited.body.title, 'Too Many Requests');
    assert.equal(
      limited.body.detail,
      `too many requests: each client may make 3 requests in 60000 ms (server.rateLimit); retry in ${retryAfter} s`,
    );
    assert.equal((await raw(t.url, 'GET', '/api/v1/simulation', bearer(OTHER))).status, 200);
    for (let i = 0; i < 5; i++) {
      assert.equal((await raw(t.url, 'GET', '/health/live')).status, 200);
      assert.equal((await raw(t.url, 'GET', '/metrics')).status, 200);
    }
  });
});

test('the audit trail names the key of every change, and no secret reaches the log', async (t) => {
  const server = await spawnServer({
    KAFKA_TOPIC: uniqueTopic('security-audit'),
    FLEETSIM_AUTOSTART: 'false',
    LOG_LEVEL: 'info',
    FLEETSIM_API_KEYS: `ops:operate:${OPS},viewer:read:${VIEWER}`,
  });
  t.after(() => server.kill());
  const started = await raw(server.url, 'POST', '/api/v1/simulation/start', bearer(OPS));
  assert.equal(started.status, 200);
  const refused = await raw(server.url, 'POST', '/api/v1/simulation/stop', { 'x-api-key': VIEWER });
  assert.equal(refused.status, 403);
  const line = await server.waitForLine(
    'the access line of the start',
    (l) => l.url === '/api/v1/simulation/start' && l.status === 200,
  );
  assert.equal(line.apiKey, 'ops');
  assert.match(line.message, /^POST \/api\/v1\/simulation\/start 200 [\d.]+ ms \(key ops\)$/);
  const denied = await server.waitForLine(
    'the access line of the refused stop',
    (l) => l.url === '/api/v1/simulation/stop',
  );
  assert.equal(denied.status, 403);
  assert.equal(denied.apiKey, 'viewer');
  const keys = server.lines.find((l) => l.context === 'Security');
  assert.equal(keys?.message, 'API keys required: ops (operate), viewer (read)');
  const everything = [...server.lines.map((l) => JSON.stringify(l)), ...server.other].join('\n');
  for (const secret of [OPS, VIEWER]) assert.ok(!everything.includes(secret));
});

test('without keys, fleetsim warns at boot how to set one', async (t) => {
  const server = await spawnServer({
    KAFKA_TOPIC: uniqueTopic('security-warning'),
    FLEETSIM_AUTOSTART: 'false',
  });
  t.after(() => server.kill());
  const warning = server.lines.find((l) => l.context === 'Security');
  assert.equal(warning?.level, 'warn');
  assert.match(
    warning!.message,
    /^no API key is configured: changes \(POST, PATCH, DELETE\) are only taken from loopback clients/,
  );
  assert.match(warning!.message, /FLEETSIM_API_KEYS=<id>:operate:<secret/);
});

test('a bad key entry stops the boot, naming the entry and not the secret', () => {
  const secret = 'boot-secret-0123456789abcdef';
  const run = spawnSync(process.execPath, [join(projectRoot(), 'dist', 'src', 'main.js')], {
    env: {
      PATH: process.env.PATH,
      KAFKA_BROKERS: testBrokers().join(','),
      PORT: '0',
      HOST: '127.0.0.1',
      FLEETSIM_API_KEYS: `ops:operate:${OPS},ci:admin:${secret}`,
    },
    encoding: 'utf8',
    timeout: 60_000,
  });
  assert.equal(run.status, 2, run.stderr + run.stdout);
  const output = run.stdout + run.stderr;
  assert.match(
    output,
    /FLEETSIM_API_KEYS entry 2 \(key \\?"ci\\?"\): the role must be read or operate, not \\?"admin\\?"/,
  );
  assert.ok(!output.includes(secret));
  assert.ok(!output.includes(OPS));
});
