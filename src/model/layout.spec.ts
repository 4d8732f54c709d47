import assert from 'node:assert/strict';
import { test } from 'node:test';
import { deriveLayout, deviceId, locate, parseDeviceId, roomCount, slugify } from './layout.js';

test('derived layouts hold every preset size with about eight devices a room', () => {
  for (const n of [1, 100, 300, 500, 1000, 2000, 5000, 10_000, 100_000]) {
    const layout = deriveLayout(n);
    const rooms = roomCount(layout);
    assert.ok(rooms * 8 >= n, `${n} devices fit in ${rooms} rooms`);
    assert.ok(layout.roomsPerFloor <= 10 && layout.floorsPerBuilding <= 10);
    assert.ok(rooms < Math.max(n / 8, 1) + 100, `no more than a floor of spare rooms for ${n}`);
  }
  assert.deepEqual(deriveLayout(100), { buildings: 1, floorsPerBuilding: 2, roomsPerFloor: 10 });
  assert.deepEqual(deriveLayout(1), { buildings: 1, floorsPerBuilding: 1, roomsPerFloor: 1 });
});

test('devices are dealt to rooms in turn and every place is within the layout', () => {
  const layout = { buildings: 2, floorsPerBuilding: 3, roomsPerFloor: 4 };
  assert.deepEqual(locate(layout, 0), { building: 1, floor: 1, room: 1 });
  assert.deepEqual(locate(layout, 1), { building: 1, floor: 1, room: 2 });
  assert.deepEqual(locate(layout, 4), { building: 1, floor: 2, room: 1 });
  assert.deepEqual(locate(layout, 12), { building: 2, floor: 1, room: 1 });
  assert.deepEqual(locate(layout, 23), { building: 2, floor: 3, room: 4 });
  assert.deepEqual(locate(layout, 24), locate(layout, 0), 'the 25th device joins the first room');
  const seen = new Set<string>();
  for (let i = 0; i < 24; i++) {
    const { building, floor, room } = locate(layout, i);
    seen.add(`${building}/${floor}/${room}`);
  }
  assert.equal(seen.size, 24, 'the first 24 devices fill the 24 rooms once each');
});

test('ids encode fleet, place and number, are unique and parse back', () => {
  const layout = deriveLayout(1000);
  const ids = new Set<string>();
  for (let i = 0; i < 1000; i++) {
    const id = deviceId('plant-a', locate(layout, i), i);
    ids.add(id);
    assert.deepEqual(parseDeviceId(id), { fleetId: 'plant-a', index: i });
  }
  assert.equal(ids.size, 1000);
  assert.equal(
    deviceId('plant-a', { building: 2, floor: 3, room: 4 }, 1233),
    'plant-a.b2.f3.r4.d1234',
  );
  assert.equal(parseDeviceId('plant-a.b2.f3.r4'), undefined);
  assert.equal(parseDeviceId('Plant A.b1.f1.r1.d1'), undefined);
});

test('a device keeps its id and place when its fleet grows', () => {
  const layout = deriveLayout(1000);
  for (const i of [0, 1, 199, 999]) {
    assert.equal(deviceId('f', locate(layout, i), i), deviceId('f', locate(layout, i), i));
  }
});

test('fleet ids are made from names', () => {
  assert.equal(slugify('Plant A'), 'plant-a');
  assert.equal(slugify('  Usine Été #3 '), 'usine-ete-3');
  assert.equal(slugify('!!!'), '');
  assert.equal(slugify('x'.repeat(100)).length, 48);
});
