/** How a fleet's rooms are arranged: buildings × floors per building × rooms per floor. */
export interface Layout {
  buildings: number;
  floorsPerBuilding: number;
  roomsPerFloor: number;
}

/** Where a device sits; every number is 1-based. */
export interface Location {
  building: number;
  floor: number;
  room: number;
}

/** Devices per room the derived layout aims for. */
const DEVICES_PER_ROOM = 8;
const MAX_ROOMS_PER_FLOOR = 10;
const MAX_FLOORS_PER_BUILDING = 10;

/**
 * A layout for `deviceCount` devices: about eight devices a room, up to ten rooms a floor
 * and ten floors a building, as many buildings as that takes.
 */
export function deriveLayout(deviceCount: number): Layout {
  const rooms = Math.max(1, Math.ceil(deviceCount / DEVICES_PER_ROOM));
  const roomsPerFloor = Math.min(MAX_ROOMS_PER_FLOOR, rooms);
  const floors = Math.ceil(rooms / roomsPerFloor);
  const floorsPerBuilding = Math.min(MAX_FLOORS_PER_BUILDING, floors);
  const buildings = Math.ceil(floors / floorsPerBuilding);
  return { buildings, floorsPerBuilding, roomsPerFloor };
}

export function roomCount(layout: Layout): number {
  return layout.buildings * layout.floorsPerBuilding * layout.roomsPerFloor;
}

/**
 * The location of the device with 0-based ordinal `index`. Devices are dealt to rooms in
 * turn (0 → room 1, 1 → room 2, …), so a device keeps its room whatever the fleet's size:
 * scaling a fleet up adds devices to every room, scaling down takes the highest ordinals.
 */
export function locate(layout: Layout, index: number): Location {
  const rooms = roomCount(layout);
  const r = index % rooms;
  const perBuilding = layout.floorsPerBuilding * layout.roomsPerFloor;
  return {
    building: Math.floor(r / perBuilding) + 1,
    floor: Math.floor((r % perBuilding) / layout.roomsPerFloor) + 1,
    room: (r % layout.roomsPerFloor) + 1,
  };
}

/**
 * A device id: the fleet id, the device's place and its 1-based number in the fleet, e.g.
 * `plant-a.b2.f3.r4.d1234`. Stable for the life of the fleet.
 */
export function deviceId(fleetId: string, location: Location, index: number): string {
  return `${fleetId}.b${location.building}.f${location.floor}.r${location.room}.d${index + 1}`;
}

const DEVICE_ID = /^([a-z0-9][a-z0-9-]*)\.b(\d+)\.f(\d+)\.r(\d+)\.d(\d+)$/;

/** Splits a device id into its fleet id and 0-based ordinal, or undefined if malformed. */
export function parseDeviceId(id: string): { fleetId: string; index: number } | undefined {
  const m = DEVICE_ID.exec(id);
  if (!m) return undefined;
  return { fleetId: m[1], index: Number(m[5]) - 1 };
}

/** A fleet id made from its name: lower case letters, digits and single dashes. */
export function slugify(name: string): string {
  return name
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 48)
    .replace(/-+$/g, '');
}
