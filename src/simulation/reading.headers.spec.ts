import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ReadingHeaders } from './reading.headers.js';

test('reading headers are built once per fleet and kind and say format, fleet and schema', () => {
  const json = new ReadingHeaders('json');
  const plain = json.of('plant-a', null);
  assert.equal(json.of('plant-a', null), plain, 'the same object is shared');
  assert.deepEqual(
    Object.fromEntries(Object.entries(plain.entries).map(([k, v]) => [k, v.toString()])),
    {
      'content-type': 'application/json',
      'fleet-id': 'plant-a',
      schema: 'urn:fleetsim:schema:reading:1',
    },
  );
  const spike = json.of('plant-a', 'spike');
  assert.equal(spike.entries['anomaly-kind'].toString(), 'spike');
  assert.equal(json.of('plant-a', 'spike'), spike);
  assert.notEqual(json.of('plant-b', null), plain);
  assert.ok(Object.isFrozen(plain.entries));
  const expectedBytes = Object.entries(spike.entries).reduce(
    (n, [k, v]) => n + k.length + v.length,
    0,
  );
  assert.equal(spike.bytes, expectedBytes);

  const proto = new ReadingHeaders('protobuf').of('plant-a', null);
  assert.equal(proto.entries['content-type'].toString(), 'application/x-protobuf');
  assert.equal(proto.entries.schema.toString(), 'fleetsim.v1.Reading');
});
