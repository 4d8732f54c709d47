/**
 * Backfills over HTTP: bad input gets problem+json naming the field and the rule; a small
 * backfill of an existing fleet runs to done and reports its progress and offsets; a long
 * one can be cancelled.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { http, startApp, type TestApp, waitFor } from '../support/app.js';
import { uniqueTopic } from '../support/kafka.js';

let t: TestApp;
const FROM = '2026-03-01T00:00:00Z';
const TO = '2026-03-01T01:00:00Z';

before(async () => {
  t = await startApp({ KAFKA_TOPIC: uniqueTopic('e2e-backfills'), FLEETSIM_AUTOSTART: 'false' });
  const fleet = await http(t.url, 'POST', '/api/v1/fleets', {
    name: 'Back Plant',
    deviceCount: 10,
    intervalMs: 10_000,
    seed: 3,
  });
  assert.equal(fleet.status, 201);
});
after(async () => t?.close());

describe('bad backfill input', () => {
  const cases: Array<{
    name: string;
    body: Record<string, unknown>;
    status: number;
    field: string;
    rule: string;
  }> = [
    {
      name: 'from ≥ to',
      body: { fleetId: 'back-plant', from: TO, to: FROM },
      status: 422,
      field: 'to',
      rule: 'after',
    },
    {
      name: 'range longer than 366 days',
      body: { fleetId: 'back-plant', from: '2024-01-01T00:00:00Z', to: '2025-06-01T00:00:00Z' },
      status: 422,
      field: 'to',
      rule: 'maxRange',
    },
    {
      name: 'pace neither "max" nor a factor of 1 … 1000000',
      body: { fleetId: 'back-plant', from: FROM, to: TO, pace: 'fast' },
      status: 400,
      field: 'pace',
      rule: 'pace',
    },
    {
      name: 'pace 0',
      body: { fleetId: 'back-plant', from: FROM, to: TO, pace: 0 },
      status: 400,
      field: 'pace',
      rule: 'pace',
    },
    {
      name: 'both fleetId and fleet',
      body: { fleetId: 'back-plant', fleet: { name: 'x', deviceCount: 1 }, from: FROM, to: TO },
      status: 400,
      field: 'fleetId',
      rule: 'oneOf',
    },
    {
      name: 'from not ISO 8601',
      body: { fleetId: 'back-plant', from: 'yesterday', to: TO },
      status: 400,
      field: 'from',
      rule: 'isDateTime',
    },
    {
      name: 'from without a time zone (not an RFC 3339 date-time)',
      body: { fleetId: 'back-plant', from: '2026-03-01T00:00:00', to: TO },
      status: 400,
      field: 'from',
      rule: 'isDateTime',
    },
    {
      name: 'from in the year 15: a date like any other (not 1915), too long a range',
      body: { fleetId: 'back-plant', from: '0015-01-01T02:00:01Z', to: TO },
      status: 422,
      field: 'to',
      rule: 'maxRange',
    },
    {
      name: 'an anomaly outside the range',
      body: {
        fleetId: 'back-plant',
        from: FROM,
        to: TO,
        anomalies: [
          {
            kind: 'spike',
            sensor: 'temperature',
            startsAt: '2026-03-02T00:00:00Z',
            durationMs: 60_000,
          },
        ],
      },
      status: 422,
      field: 'anomalies.0.startsAt',
      rule: 'inRange',
    },
  ];
  for (const c of cases) {
    test(c.name, async () => {
      const res = await http(t.url, 'POST', '/api/v1/backfills', c.body);
      assert.equal(res.status, c.status, JSON.stringify(res.body));
      assert.match(res.type, /^application\/problem\+json/);
      assert.ok(
        res.body.errors.some(
          (e: { field: string; rule: string }) => e.field === c.field && e.rule === c.rule,
        ),
        JSON.stringify(res.body.errors),
      );
    });
  }

  test('unknown fleetId: 404', async () => {
    const res = await http(t.url, 'POST', '/api/v1/backfills', {
      fleetId: 'nope',
      from: FROM,
      to: TO,
    });
    assert.equal(res.status, 404);
    assert.match(res.type, /^application\/problem\+json/);
    assert.match(res.body.detail, /fleet "nope"/);
  });

  test('unknown backfill: 404', async () => {
    assert.equal((await http(t.url, 'GET', '/api/v1/backfills/bf-999')).status, 404);
    assert.equal((await http(t.url, 'DELETE', '/api/v1/backfills/bf-999')).status, 404);
  });
});

describe('backfills over HTTP', () => {
  test('an hour of an existing fleet runs to done, with progress and offsets', async () => {
    const created = await http(t.url, 'POST', '/api/v1/backfills', {
      fleetId: 'back-plant',
      from: FROM,
      to: TO,
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.equal(created.headers.get('location'), `/api/v1/backfills/${created.body.id}`);
    assert.equal(created.body.progress.total, 10 * 360);
    const done = await waitFor('the backfill to finish', async () => {
      const res = await http(t.url, 'GET', `/api/v1/backfills/${created.body.id}`);
      return res.body.state === 'running' ? undefined : res.body;
    });
    assert.equal(done.state, 'done');
    assert.equal(done.progress.done, 3600);
    assert.equal(done.progress.acknowledged, 3600);
    assert.equal(done.progress.percent, 100);
    const written = done.offsets.reduce(
      (n: number, o: { firstOffset: number; lastOffset: number }) =>
        n + o.lastOffset - o.firstOffset + 1,
      0,
    );
    assert.equal(written, 3600, 'the offsets cover every reading (nothing else on the topic)');
    const list = await http(t.url, 'GET', '/api/v1/backfills');
    assert.equal(list.body[0].id, created.body.id);
    // The live fleet's devices were not touched.
    const device = await http(t.url, 'GET', '/api/v1/devices/back-plant.b1.f1.r1.d1');
    assert.equal(device.body.nextSeq, 0);
  });

  test('a fleet spec, paced, cancelled', async () => {
    const created = await http(t.url, 'POST', '/api/v1/backfills', {
      fleet: { name: 'Spec Plant', deviceCount: 5, intervalMs: 1000, seed: 1 },
      from: FROM,
      to: '2026-03-02T00:00:00Z',
      pace: 60,
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.equal(created.body.fleetId, 'spec-plant');
    assert.equal(created.body.pace, 60);
    await waitFor('some readings', async () => {
      const res = await http(t.url, 'GET', `/api/v1/backfills/${created.body.id}`);
      return res.body.progress.done > 0 ? true : undefined;
    });
    const cancelled = await http(t.url, 'DELETE', `/api/v1/backfills/${created.body.id}`);
    assert.equal(cancelled.status, 200);
    assert.equal(cancelled.body.state, 'cancelled');
    // At 60× for well under a minute of wall time: far from the 432,000 readings of the day.
    assert.ok(cancelled.body.progress.done < 432_000 / 10, String(cancelled.body.progress.done));
  });
});
