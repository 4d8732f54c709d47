import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { http, startApp, type TestApp, waitFor } from '../support/app.js';
import { uniqueTopic } from '../support/kafka.js';

let t: TestApp;

before(async () => {
  t = await startApp({
    KAFKA_TOPIC: uniqueTopic('e2e-fleets'),
    FLEETSIM_AUTOSTART: 'true',
    KAFKA_COMPRESSION: 'none',
  });
});
after(async () => t?.close());

describe('fleets over HTTP', () => {
  test('create, list, get, page devices, get a device, delete', async () => {
    const created = await http(t.url, 'POST', '/api/v1/fleets', {
      name: 'Plant A',
      deviceCount: 120,
      intervalMs: 2000,
      sensors: ['pressure', 'temperature'],
      layout: { buildings: 2, floorsPerBuilding: 3, roomsPerFloor: 4 },
      seed: 7,
    });
    assert.equal(created.status, 201);
    assert.deepEqual(created.body, {
      id: 'plant-a',
      name: 'Plant A',
      deviceCount: 120,
      intervalMs: 2000,
      sensors: ['temperature', 'pressure'],
      layout: { buildings: 2, floorsPerBuilding: 3, roomsPerFloor: 4 },
      seed: 7,
      targetRate: 60,
      createdAt: created.body.createdAt,
    });

    const defaults = await http(t.url, 'POST', '/api/v1/fleets', {
      name: 'Defaults',
      deviceCount: 100,
    });
    assert.equal(defaults.status, 201);
    assert.equal(defaults.body.intervalMs, 5000);
    assert.deepEqual(defaults.body.sensors, [
      'temperature',
      'humidity',
      'pressure',
      'switch',
      'current',
    ]);
    assert.deepEqual(defaults.body.layout, {
      buildings: 1,
      floorsPerBuilding: 2,
      roomsPerFloor: 10,
    });
    assert.ok(Number.isInteger(defaults.body.seed), 'a seed is generated and reported');

    const list = await http(t.url, 'GET', '/api/v1/fleets');
    assert.deepEqual(list.body.map((f: { id: string }) => f.id).sort(), ['defaults', 'plant-a']);
    assert.equal((await http(t.url, 'GET', '/api/v1/fleets/plant-a')).body.deviceCount, 120);

    const room = await http(
      t.url,
      'GET',
      '/api/v1/fleets/plant-a/devices?building=2&floor=3&room=4&limit=3',
    );
    assert.equal(room.status, 200);
    assert.equal(room.body.total, 5, '120 devices over 24 rooms: five a room');
    assert.deepEqual(
      room.body.items.map((d: { id: string }) => d.id),
      ['plant-a.b2.f3.r4.d24', 'plant-a.b2.f3.r4.d48', 'plant-a.b2.f3.r4.d72'],
    );
    const page2 = await http(
      t.url,
      'GET',
      '/api/v1/fleets/plant-a/devices?building=2&floor=3&room=4&limit=3&page=2',
    );
    assert.deepEqual(
      page2.body.items.map((d: { number: number }) => d.number),
      [96, 120],
    );

    const device = await waitFor('a first reading', async () => {
      const d = await http(t.url, 'GET', '/api/v1/devices/plant-a.b1.f1.r1.d1');
      return d.body.lastReading ? d : undefined;
    });
    assert.equal(device.status, 200);
    assert.deepEqual(device.body.location, { building: 1, floor: 1, room: 1 });
    assert.deepEqual(Object.keys(device.body.lastReading.readings), ['temperature', 'pressure']);
    assert.equal(device.body.nextSeq, device.body.lastReading.seq + 1);

    assert.equal((await http(t.url, 'DELETE', '/api/v1/fleets/plant-a')).status, 204);
    const gone = await http(t.url, 'GET', '/api/v1/fleets/plant-a');
    assert.equal(gone.status, 404);
    assert.equal((await http(t.url, 'GET', '/api/v1/devices/plant-a.b1.f1.r1.d1')).status, 404);
    assert.equal((await http(t.url, 'DELETE', '/api/v1/fleets/defaults')).status, 204);
  });

  test('a second fleet with the same id is a conflict', async () => {
    assert.equal(
      (await http(t.url, 'POST', '/api/v1/fleets', { name: 'Twin', deviceCount: 1 })).status,
      201,
    );
    const again = await http(t.url, 'POST', '/api/v1/fleets', { name: 'twin', deviceCount: 1 });
    assert.equal(again.status, 409);
    assert.equal(again.body.detail, 'a fleet with id "twin" already exists');
    await http(t.url, 'DELETE', '/api/v1/fleets/twin');
  });
});

describe('bad input gets problem+json and disturbs nothing', () => {
  const cases: Array<{
    name: string;
    body: unknown;
    status: number;
    detail: string;
    field?: string;
    rule?: string;
  }> = [
    {
      name: 'deviceCount 0',
      body: { name: 'x', deviceCount: 0 },
      status: 400,
      detail: 'deviceCount must not be less than 1',
      field: 'deviceCount',
      rule: 'min',
    },
    {
      name: 'deviceCount 100001',
      body: { name: 'x', deviceCount: 100_001 },
      status: 400,
      detail: 'deviceCount must not be greater than 100000',
      field: 'deviceCount',
      rule: 'max',
    },
    {
      name: 'deviceCount a string',
      body: { name: 'x', deviceCount: '1000' },
      status: 400,
      detail: 'deviceCount must be an integer number',
      field: 'deviceCount',
      rule: 'isInt',
    },
    {
      name: 'deviceCount missing',
      body: { name: 'x' },
      status: 400,
      detail: 'deviceCount is required',
      field: 'deviceCount',
      rule: 'isDefined',
    },
    {
      name: 'intervalMs 99',
      body: { name: 'x', deviceCount: 10, intervalMs: 99 },
      status: 400,
      detail: 'intervalMs must not be less than 100',
      field: 'intervalMs',
      rule: 'min',
    },
    {
      name: 'an unknown sensor',
      body: { name: 'x', deviceCount: 10, sensors: ['temperature', 'smell'] },
      status: 400,
      detail:
        'each value in sensors must be one of the following values: temperature, humidity, pressure, switch, current',
      field: 'sensors',
      rule: 'isIn',
    },
    {
      name: 'an unknown field',
      body: { name: 'x', deviceCount: 10, colour: 'red' },
      status: 400,
      detail: 'colour is not a known field',
      field: 'colour',
      rule: 'unknown',
    },
    {
      name: 'a bad layout',
      body: {
        name: 'x',
        deviceCount: 10,
        layout: { buildings: 0, floorsPerBuilding: 1, roomsPerFloor: 1 },
      },
      status: 400,
      detail: 'layout.buildings must not be less than 1',
      field: 'layout.buildings',
      rule: 'min',
    },
  ];

  let streamingDevice = '';
  before(async () => {
    const fleet = await http(t.url, 'POST', '/api/v1/fleets', {
      name: 'Steady',
      deviceCount: 50,
      intervalMs: 200,
    });
    assert.equal(fleet.status, 201);
    streamingDevice = 'steady.b1.f1.r1.d1';
    await waitFor('steady to stream', async () =>
      (await http(t.url, 'GET', `/api/v1/devices/${streamingDevice}`)).body.nextSeq > 0
        ? true
        : undefined,
    );
  });

  for (const c of cases) {
    test(c.name, async () => {
      const res = await http(t.url, 'POST', '/api/v1/fleets', c.body);
      assert.equal(res.status, c.status);
      assert.match(res.type, /^application\/problem\+json/);
      assert.equal(res.body.status, c.status);
      assert.equal(res.body.title, 'Bad Request');
      assert.equal(res.body.detail, c.detail);
      assert.equal(res.body.instance, '/api/v1/fleets');
      assert.deepEqual(res.body.errors, [{ field: c.field, rule: c.rule, message: c.detail }]);
    });
  }

  test('malformed JSON', async () => {
    const res = await http(t.url, 'POST', '/api/v1/fleets', '{"name": "x", ');
    assert.equal(res.status, 400);
    assert.match(res.type, /^application\/problem\+json/);
    assert.match(res.body.detail, /JSON/);
  });

  test('a body over the size limit', async () => {
    const res = await http(t.url, 'POST', '/api/v1/fleets', {
      name: 'x'.repeat(1_100_000),
      deviceCount: 1,
    });
    assert.equal(res.status, 413);
    assert.match(res.type, /^application\/problem\+json/);
    assert.equal(res.body.detail, 'the request body is larger than the limit of 1048576 bytes');
  });

  test('an unknown fleet id', async () => {
    for (const [method, path] of [
      ['GET', '/api/v1/fleets/nope'],
      ['DELETE', '/api/v1/fleets/nope'],
      ['GET', '/api/v1/fleets/nope/devices'],
    ]) {
      const res = await http(t.url, method, path);
      assert.equal(res.status, 404, `${method} ${path}`);
      assert.match(res.type, /^application\/problem\+json/);
      assert.equal(res.body.detail, 'fleet "nope" does not exist');
    }
    const device = await http(t.url, 'GET', '/api/v1/devices/nope.b1.f1.r1.d1');
    assert.equal(device.status, 404);
    assert.equal(device.body.detail, 'device "nope.b1.f1.r1.d1" does not exist');
  });

  test('a bad device query', async () => {
    const res = await http(t.url, 'GET', '/api/v1/fleets/steady/devices?limit=5000');
    assert.equal(res.status, 400);
    assert.equal(res.body.detail, 'limit must not be greater than 1000');
  });

  test('the fleet that was streaming still streams and nothing was created', async () => {
    const before = (await http(t.url, 'GET', `/api/v1/devices/${streamingDevice}`)).body.nextSeq;
    const after = await waitFor('steady to advance', async () => {
      const seq = (await http(t.url, 'GET', `/api/v1/devices/${streamingDevice}`)).body.nextSeq;
      return seq > before ? seq : undefined;
    });
    assert.ok(after > before);
    const fleets = (await http(t.url, 'GET', '/api/v1/fleets')).body.map(
      (f: { id: string }) => f.id,
    );
    assert.deepEqual(fleets, ['steady']);
    const producer = (await http(t.url, 'GET', '/api/v1/producer')).body;
    assert.equal(producer.failed + producer.dropped, 0);
  });
});

test('health and metrics answer', async () => {
  const live = await http(t.url, 'GET', '/health/live');
  assert.equal(live.status, 200);
  const ready = await http(t.url, 'GET', '/health/ready');
  assert.equal(ready.status, 200);
  assert.equal(ready.body.info.kafka.status, 'up');
  const metrics = await fetch(`${t.url}/metrics`);
  const text = await metrics.text();
  assert.match(text, /^fleetsim_messages_acknowledged_total \d+/m);
  assert.match(text, /^fleetsim_messages_generated_total \d+/m);
  assert.match(text, /^fleetsim_messages_failed_total 0/m);
  assert.match(text, /^process_resident_memory_bytes \d+/m);
  const unknown = await http(t.url, 'GET', '/api/v1/nothing-here');
  assert.equal(unknown.status, 404);
  assert.match(unknown.type, /^application\/problem\+json/);
});
