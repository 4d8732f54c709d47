/**
 * Bad input that generators (Schemathesis, .ci/schemathesis) rarely make: deep nesting,
 * 100,000-element lists, non-Latin names, very long strings, prototype keys, bodies over the
 * limit, undeclared methods. Each gets a 4xx application/problem+json naming the field and
 * rule, answers fast, and leaves the server as it was.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { deviceId, locate } from '../../src/model/layout.js';
import { http, startApp, type TestApp } from '../support/app.js';
import { uniqueTopic } from '../support/kafka.js';

const PROBLEM = /^application\/problem\+json/;
let t: TestApp;

/** Asserts a problem answer: status, content type, and the field and rule of its first error. */
function assertProblem(
  res: { status: number; type: string; body: any },
  status: number,
  field?: string,
  rule?: string,
) {
  assert.equal(res.status, status, JSON.stringify(res.body)?.slice(0, 500));
  assert.match(res.type, PROBLEM);
  assert.equal(res.body.status, status);
  assert.equal(typeof res.body.detail, 'string');
  if (field) {
    assert.equal(res.body.errors?.[0]?.field, field, JSON.stringify(res.body.errors));
    assert.equal(res.body.errors?.[0]?.rule, rule, JSON.stringify(res.body.errors));
  }
}

/** The server still answers, and still holds only the fleets the test expects. */
async function assertUndisturbed(fleets: string[]) {
  const list = await http(t.url, 'GET', '/api/v1/fleets');
  assert.equal(list.status, 200);
  assert.deepEqual(list.body.map((f: { id: string }) => f.id).sort(), [...fleets].sort());
}

const nested = (depth: number) => `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`;

before(async () => {
  t = await startApp({ KAFKA_TOPIC: uniqueTopic('e2e-bad-input'), KAFKA_COMPRESSION: 'none' });
  const fleet = await http(t.url, 'POST', '/api/v1/fleets', { name: 'Base', deviceCount: 10 });
  assert.equal(fleet.status, 201);
});
after(async () => t?.close());

describe('deeply nested JSON', () => {
  test('past 32 levels is a 400 naming the rule, however deep, before it is copied into a DTO', async () => {
    for (const depth of [33, 1000, 100_000]) {
      const body = `{"name":"deep","deviceCount":1,"layout":${nested(depth)}}`;
      const res = await http(t.url, 'POST', '/api/v1/fleets', body);
      assertProblem(res, 400, 'body', 'maxDepth');
      assert.equal(res.body.detail, 'the JSON body is nested deeper than 32 levels');
    }
    // Arrays count as levels too, and so does a merge patch of the configuration.
    const arrays = `{"name":"deep","deviceCount":1,"sensors":${'['.repeat(50_000)}${']'.repeat(50_000)}}`;
    assertProblem(await http(t.url, 'POST', '/api/v1/fleets', arrays), 400, 'body', 'maxDepth');
    const patch = await http(t.url, 'PATCH', '/api/v1/config', `{"producer":${nested(40)}}`, {
      'content-type': 'application/merge-patch+json',
    });
    assertProblem(patch, 400, 'body', 'maxDepth');
    await assertUndisturbed(['base']);
  });

  test('within the limit, nesting reaches validation, which names the unknown field', async () => {
    const body = `{"name":"deep","deviceCount":1,"layout":{"buildings":1,"floorsPerBuilding":1,"roomsPerFloor":1,"x":${nested(25)}}}`;
    assertProblem(await http(t.url, 'POST', '/api/v1/fleets', body), 400, 'layout.x', 'unknown');
    // Brackets inside strings are not nesting.
    const text = await http(t.url, 'POST', '/api/v1/fleets', {
      name: `[{${'[{'.repeat(20)}} Bracket Works`,
      deviceCount: 1,
    });
    assert.equal(text.status, 201);
    assert.equal(text.body.id, 'bracket-works');
    assert.equal((await http(t.url, 'DELETE', '/api/v1/fleets/bracket-works')).status, 204);
  });
});

describe('100,000-element deviceIds', () => {
  test('100,000 unknown ids are a 422 that names five of them, not 100,000', async () => {
    const deviceIds = Array.from({ length: 100_000 }, (_, i) => `x${i}`);
    const res = await http(t.url, 'POST', '/api/v1/anomalies', {
      target: { fleetId: 'base', deviceIds },
      sensor: 'temperature',
      kind: 'spike',
      durationMs: 60_000,
    });
    assertProblem(res, 422, 'target.deviceIds', 'inFleet');
    assert.match(res.body.detail, /: x0, x1, x2, x3, x4 and 99995 more$/);
    assert.ok(JSON.stringify(res.body).length < 2000, 'the answer stays small');
  });

  test('100,001 ids are a 400 (arrayMaxSize)', async () => {
    const deviceIds = Array.from({ length: 100_001 }, () => 'x');
    const res = await http(t.url, 'POST', '/api/v1/anomalies', {
      target: { fleetId: 'base', deviceIds },
      sensor: 'temperature',
      kind: 'spike',
      durationMs: 60_000,
    });
    assertProblem(res, 400, 'target.deviceIds', 'arrayMaxSize');
  });

  test('100,000 real ids (a 4 MB body where the limit allows it) are applied, and listed as 100 (all 100,000 by id)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fleetsim-bad-input-'));
    const file = join(dir, 'fleetsim.yaml');
    writeFileSync(file, 'server:\n  bodyLimitBytes: 4194304\n');
    const big = await startApp({
      KAFKA_TOPIC: uniqueTopic('e2e-bad-input-big'),
      FLEETSIM_CONFIG: file,
    });
    try {
      const fleet = await http(big.url, 'POST', '/api/v1/fleets', {
        name: 'Huge',
        deviceCount: 100_000,
        intervalMs: 3_600_000,
        layout: { buildings: 10, floorsPerBuilding: 10, roomsPerFloor: 10 },
      });
      assert.equal(fleet.status, 201);
      const layout = fleet.body.layout;
      const deviceIds = Array.from({ length: 100_000 }, (_, i) =>
        deviceId('huge', locate(layout, i), i),
      );
      // The ids are the server's: spot-check the last one.
      assert.equal(
        (await http(big.url, 'GET', `/api/v1/devices/${deviceIds[99_999]}`)).status,
        200,
      );
      const body = JSON.stringify({
        target: { fleetId: 'huge', deviceIds },
        sensor: 'temperature',
        kind: 'spike',
        durationMs: 60_000,
      });
      assert.ok(body.length > 1024 * 1024, `a ${body.length}-byte body`);
      const res = await http(big.url, 'POST', '/api/v1/anomalies', body);
      assert.equal(res.status, 201, JSON.stringify(res.body).slice(0, 300));
      assert.equal(res.body.deviceCount, 100_000);
      assert.equal(res.body.devices.length, 100, 'the answer lists the first 100 devices');
      assert.equal(res.body.target.deviceIds.length, 100_000);
      const one = await http(big.url, 'GET', `/api/v1/anomalies/${res.body.id}`);
      assert.equal(one.body.devices.length, 100);
      assert.equal(one.body.target.deviceIds.length, 100_000, 'GET by id has every listed id');
      assert.equal(one.body.deviceIdsTruncated, undefined);
      // A list carries the first 100 listed ids of each anomaly, and says it cut them.
      const list = await http(big.url, 'GET', '/api/v1/anomalies');
      const item = list.body.items.find((a: { id: string }) => a.id === res.body.id);
      assert.deepEqual(item.target.deviceIds, deviceIds.slice(0, 100));
      assert.equal(item.deviceIdsTruncated, true);
      assert.ok(JSON.stringify(list.body).length < 64 * 1024, 'the list stays small');
    } finally {
      await big.close();
    }
  });
});

describe('names and strings', () => {
  test('non-Latin names are kept as given; the id is made of their Latin letters and digits', async () => {
    const cases = [
      { name: 'Завод №1', id: 'no1' }, // NFKD makes № "No"
      { name: 'Usine Été Nord', id: 'usine-ete-nord' },
      { name: '🏭 Plant 🚀 Ω', id: 'plant' },
      { name: '東京工場 B2', id: 'b2' },
    ];
    for (const { name, id } of cases) {
      const res = await http(t.url, 'POST', '/api/v1/fleets', { name, deviceCount: 1 });
      assert.equal(res.status, 201, JSON.stringify(res.body));
      assert.equal(res.body.id, id);
      assert.equal(res.body.name, name, 'the name comes back byte for byte');
      assert.equal((await http(t.url, 'GET', `/api/v1/fleets/${id}`)).body.name, name);
      assert.equal((await http(t.url, 'DELETE', `/api/v1/fleets/${id}`)).status, 204);
    }
    for (const name of ['東京工場', 'Завод', '🏭🚀']) {
      const res = await http(t.url, 'POST', '/api/v1/fleets', { name, deviceCount: 1 });
      assertProblem(res, 400, 'name', 'matches');
      assert.match(res.body.detail, /Latin letter or a digit/);
    }
    // A non-ASCII id in the path is a plain 404 that names it.
    const missing = await http(t.url, 'GET', `/api/v1/fleets/${encodeURIComponent('東京')}`);
    assertProblem(missing, 404);
    assert.equal(missing.body.detail, 'fleet "東京" does not exist');
    await assertUndisturbed(['base']);
  });

  test('very long strings are refused by their maxLength, in bodies, paths, queries and headers', async () => {
    const long = 'a'.repeat(500_000);
    assertProblem(
      await http(t.url, 'POST', '/api/v1/fleets', { name: long, deviceCount: 1 }),
      400,
      'name',
      'maxLength',
    );
    assertProblem(
      await http(t.url, 'POST', '/api/v1/scenarios', {
        name: 'long',
        description: long,
        stages: [{ name: 'x', durationMs: 1000 }],
      }),
      400,
      'description',
      'maxLength',
    );
    assertProblem(
      await http(t.url, 'POST', '/api/v1/scenarios', {
        name: 'long',
        stages: [{ name: 'x'.repeat(65), durationMs: 1000 }],
      }),
      400,
      'stages.0.name',
      'maxLength',
    );
    // Ids far longer than any real one are unknown ids (404), not 414 or 500.
    for (const path of ['/api/v1/fleets/', '/api/v1/devices/', '/api/v1/scenarios/']) {
      assertProblem(await http(t.url, 'GET', `${path}${'z'.repeat(8000)}`), 404);
    }
    assertProblem(
      await http(t.url, 'GET', `/api/v1/fleets/base/devices?limit=${'9'.repeat(5000)}`),
      400,
      'limit',
      'isInt',
    );
    // A request id that is too long is replaced, not echoed.
    const res = await http(t.url, 'GET', '/api/v1/fleets', undefined, {
      'x-request-id': 'r'.repeat(8000),
    });
    assert.equal(res.status, 200);
    assert.match(res.headers.get('x-request-id') ?? '', /^[0-9a-f-]{36}$/);
    await assertUndisturbed(['base']);
  });
});

describe('__proto__ and constructor.prototype keys', () => {
  test('are refused wherever they appear, and Object.prototype is untouched', async () => {
    const before = Object.getOwnPropertyNames(Object.prototype).sort();
    const bodies: Array<[string, string, string, string?]> = [
      ['POST', '/api/v1/fleets', '{"name":"p","deviceCount":1,"__proto__":{"polluted":"yes"}}'],
      [
        'POST',
        '/api/v1/fleets',
        '{"name":"p","deviceCount":1,"layout":{"__proto__":{"polluted":"yes"}}}',
      ],
      [
        'POST',
        '/api/v1/fleets',
        '{"name":"p","deviceCount":1,"constructor":{"prototype":{"polluted":"yes"}}}',
      ],
      ['POST', '/api/v1/scenarios/normal-day/start', '{"__proto__":{"polluted":"yes"}}'],
      [
        'POST',
        '/api/v1/anomalies',
        '{"target":{"fleetId":"base","__proto__":{"polluted":"yes"}},"sensor":"temperature","kind":"spike","durationMs":60000}',
      ],
      [
        'PATCH',
        '/api/v1/config',
        '{"producer":{"__proto__":{"polluted":"yes"}}}',
        'application/merge-patch+json',
      ],
      ['PATCH', '/api/v1/fleets/base', '{"__proto__":{"deviceCount":5}}'],
    ];
    for (const [method, path, body, type] of bodies) {
      const res = await http(t.url, method, path, body, {
        'content-type': type ?? 'application/json',
      });
      assertProblem(res, 400, 'body', 'noPrototypeKeys');
    }
    // In a query string it is just an unknown parameter.
    assertProblem(
      await http(t.url, 'GET', '/api/v1/fleets/base/devices?__proto__[polluted]=yes'),
      400,
    );
    // A bare __proto__ parameter is dropped by the ValidationPipe (stripProtoKeys), never assigned.
    const dropped = await http(t.url, 'GET', '/api/v1/anomalies?__proto__=x');
    assert.equal(dropped.status, 200);
    assert.deepEqual(dropped.body.items, []);

    assert.equal(({} as Record<string, unknown>).polluted, undefined);
    assert.deepEqual(Object.getOwnPropertyNames(Object.prototype).sort(), before);
    const fleet = await http(t.url, 'GET', '/api/v1/fleets/base');
    assert.equal(fleet.body.deviceCount, 10, 'the fleet is unchanged');
    assert.equal(fleet.body.polluted, undefined);
    const config = await http(t.url, 'GET', '/api/v1/config');
    assert.equal(config.body.version, 1, 'no configuration change was applied');
    await assertUndisturbed(['base']);
  });
});

/** Sends a body without Content-Length (chunked), as a client streaming it would. */
function chunked(
  url: string,
  path: string,
  chunks: string[],
): Promise<{ status: number; type: string; body: any }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      `${url}${path}`,
      { method: 'POST', headers: { 'content-type': 'application/json' } },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            type: String(res.headers['content-type']),
            body: JSON.parse(text),
          }),
        );
      },
    );
    req.on('error', reject);
    for (const c of chunks) req.write(c);
    req.end();
  });
}

describe('bodies over the limit', () => {
  test('are a 413 problem naming the limit, with or without Content-Length', async () => {
    const limit = 1024 * 1024;
    const over = JSON.stringify({ name: 'big', deviceCount: 1, pad: 'x'.repeat(limit) });
    for (const [method, path, type] of [
      ['POST', '/api/v1/fleets', 'application/json'],
      ['POST', '/api/v1/anomalies', 'application/json'],
      ['POST', '/api/v1/scenarios', 'application/json'],
      ['PATCH', '/api/v1/config', 'application/merge-patch+json'],
    ]) {
      const res = await http(t.url, method, path, over, { 'content-type': type });
      assertProblem(res, 413);
      assert.equal(res.body.detail, `the request body is larger than the limit of ${limit} bytes`);
    }
    const streamed = await chunked(t.url, '/api/v1/fleets', [
      '{"name":"big","deviceCount":1,"pad":"',
      ...Array.from({ length: 20 }, () => 'x'.repeat(64 * 1024)),
      '"}',
    ]);
    assertProblem(streamed, 413);
    await assertUndisturbed(['base']);
  });
});

describe('methods a path does not have', () => {
  test('answer 405 with Allow and problem+json; OPTIONS answers 204 with Allow', async () => {
    const cases: Array<[string, string, string]> = [
      ['PUT', '/api/v1/fleets/base', 'GET, HEAD, PATCH, DELETE, OPTIONS'],
      ['DELETE', '/api/v1/fleets', 'GET, HEAD, POST, OPTIONS'],
      ['POST', '/api/v1/devices/base.b1.f1.r1.d1', 'GET, HEAD, OPTIONS'],
      ['GET', '/api/v1/scenarios/heat-wave/start', 'POST, OPTIONS'],
      ['PATCH', '/health/live', 'GET, HEAD, OPTIONS'],
      ['POST', '/metrics', 'GET, HEAD, OPTIONS'],
    ];
    for (const [method, path, allow] of cases) {
      const res = await http(t.url, method, path);
      assertProblem(res, 405);
      assert.equal(res.headers.get('allow'), allow, `${method} ${path}`);
      assert.equal(res.body.detail, `${path} does not support ${method}; it supports ${allow}`);
    }
    const options = await http(t.url, 'OPTIONS', '/api/v1/fleets/base');
    assert.equal(options.status, 204);
    assert.equal(options.headers.get('allow'), 'GET, HEAD, PATCH, DELETE, OPTIONS');
    // HEAD comes with GET; unknown paths stay 404.
    assert.equal((await http(t.url, 'HEAD', '/api/v1/fleets/base')).status, 200);
    assertProblem(await http(t.url, 'PUT', '/api/v1/nothing-here'), 404);
    assertProblem(await http(t.url, 'GET', '/api/v1/fleets/base/devices/extra'), 404);
  });
});
