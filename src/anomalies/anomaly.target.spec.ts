import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Fleet } from '../model/fleet.js';
import { clampToLayout, describeTarget, resolveTarget } from './anomaly.target.js';

// 2 buildings × 3 floors × 4 rooms = 24 rooms; 96 devices = 4 a room.
const fleet = new Fleet({
  id: 'plant',
  name: 'plant',
  deviceCount: 96,
  intervalMs: 1000,
  sensors: ['temperature', 'switch'],
  layout: { buildings: 2, floorsPerBuilding: 3, roomsPerFloor: 4 },
  seed: 1,
});

const places = (devices: { location: object }[]) =>
  new Set(devices.map((d) => JSON.stringify(d.location)));

test('no place means the whole fleet', () => {
  const { devices, unknownIds } = resolveTarget(fleet, {});
  assert.equal(devices.length, 96);
  assert.deepEqual(unknownIds, []);
});

test('building, building + floor, and building + floor + room narrow down the hierarchy', () => {
  const building = resolveTarget(fleet, { building: 2 }).devices;
  assert.equal(building.length, 48);
  assert.ok(building.every((d) => d.location.building === 2));

  const floor = resolveTarget(fleet, { building: 1, floor: 3 }).devices;
  assert.equal(floor.length, 16);
  assert.ok(floor.every((d) => d.location.building === 1 && d.location.floor === 3));

  const room = resolveTarget(fleet, { building: 1, floor: 3, room: 2 }).devices;
  assert.equal(room.length, 4);
  assert.deepEqual(places(room), new Set([JSON.stringify({ building: 1, floor: 3, room: 2 })]));
  assert.deepEqual(
    room.map((d) => d.index),
    [9, 33, 57, 81],
    'the devices dealt to that room, in ordinal order',
  );
});

test('a floor or room alone matches it in every building (filters, not a path)', () => {
  const floor = resolveTarget(fleet, { floor: 2 }).devices;
  assert.equal(floor.length, 32);
  assert.deepEqual(new Set(floor.map((d) => d.location.building)), new Set([1, 2]));
  assert.equal(resolveTarget(fleet, { room: 4 }).devices.length, 24);
});

test('a place beyond the layout matches nothing', () => {
  assert.equal(resolveTarget(fleet, { building: 3 }).devices.length, 0);
  assert.equal(resolveTarget(fleet, { building: 1, floor: 4 }).devices.length, 0);
});

test('deviceIds picks those devices, once each, and reports ids not in the fleet', () => {
  const [a, b] = [fleet.devices[5], fleet.devices[70]];
  const { devices, unknownIds } = resolveTarget(fleet, {
    deviceIds: [
      b.id,
      a.id,
      b.id,
      'plant.b1.f1.r1.d999',
      'other.b1.f1.r1.d1',
      'junk',
      'plant.b9.f1.r1.d1',
    ],
  });
  assert.deepEqual(
    devices.map((d) => d.id),
    [a.id, b.id],
  );
  assert.deepEqual(unknownIds, [
    'plant.b1.f1.r1.d999',
    'other.b1.f1.r1.d1',
    'junk',
    'plant.b9.f1.r1.d1',
  ]);
});

test('deviceIds combine with a place: only listed devices that are also in it', () => {
  const inRoom = fleet.devices.find((d) => d.location.building === 2)!;
  const elsewhere = fleet.devices.find((d) => d.location.building === 1)!;
  const { devices } = resolveTarget(fleet, {
    building: 2,
    deviceIds: [inRoom.id, elsewhere.id],
  });
  assert.deepEqual(
    devices.map((d) => d.id),
    [inRoom.id],
  );
});

test('scenario places are clamped to the layout; absent parts stay absent', () => {
  const layout = { buildings: 1, floorsPerBuilding: 2, roomsPerFloor: 10 };
  assert.deepEqual(clampToLayout(layout, { building: 1, floor: 3 }), {
    building: 1,
    floor: 2,
    room: undefined,
  });
  assert.deepEqual(clampToLayout(layout, { room: 12 }), {
    building: undefined,
    floor: undefined,
    room: 10,
  });
});

test('targets read as words in messages', () => {
  assert.equal(describeTarget({ fleetId: 'p' }), 'the whole fleet p');
  assert.equal(
    describeTarget({ fleetId: 'p', building: 1, floor: 3, room: 2 }),
    'building 1, floor 3, room 2 of fleet p',
  );
  assert.equal(
    describeTarget({ fleetId: 'p', deviceIds: ['x', 'y'] }),
    'the 2 listed device(s) of fleet p',
  );
});
