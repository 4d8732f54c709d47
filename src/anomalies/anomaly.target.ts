import type { Device, Fleet } from '../model/fleet.js';
import { type Layout, parseDeviceId } from '../model/layout.js';

/** Where in a fleet's hierarchy an anomaly lands; every given part must match (AND). */
export interface TargetPlace {
  building?: number;
  floor?: number;
  room?: number;
}

/** What an anomaly is aimed at: a fleet, narrowed by place and/or device ids. */
export interface AnomalyTarget extends TargetPlace {
  fleetId: string;
  deviceIds?: string[];
}

export interface ResolvedTarget {
  /** The fleet's devices the target matches, in ordinal order. */
  devices: Device[];
  /** Listed device ids that are not devices of the fleet. */
  unknownIds: string[];
  /** Ordinals of the listed devices of the fleet (sorted, once each); with deviceIds only. */
  listed?: Int32Array;
}

/**
 * The devices of `fleet` a target matches. building, floor and room are filters on the
 * device's location, so `{ building: 1, floor: 3 }` is one floor, `{ building: 1, floor: 3,
 * room: 2 }` one room, and `{ floor: 3 }` the third floor of every building. `deviceIds`
 * narrows to those devices (and still has to agree with any place given).
 */
export function resolveTarget(fleet: Fleet, target: TargetPlace & { deviceIds?: string[] }) {
  const { building, floor, room, deviceIds } = target;
  const unknownIds: string[] = [];
  let candidates: Device[] = fleet.devices;
  if (deviceIds) {
    const seen = new Set<number>();
    candidates = [];
    for (const id of deviceIds) {
      const parsed = parseDeviceId(id);
      const device =
        parsed && parsed.fleetId === fleet.id ? fleet.devices[parsed.index] : undefined;
      if (!device || device.id !== id) unknownIds.push(id);
      else if (!seen.has(device.index)) {
        seen.add(device.index);
        candidates.push(device);
      }
    }
    candidates.sort((a, b) => a.index - b.index);
  }
  const listed = deviceIds ? Int32Array.from(candidates, (d) => d.index) : undefined;
  const devices = candidates.filter(
    (d) =>
      (building === undefined || d.location.building === building) &&
      (floor === undefined || d.location.floor === floor) &&
      (room === undefined || d.location.room === room),
  );
  return { devices, unknownIds, listed } satisfies ResolvedTarget;
}

/**
 * A place moved inside the layout: numbers above the layout's become its highest, so a
 * scenario written for "floor 3" hits the top floor of a two-storey building instead of
 * nothing.
 */
export function clampToLayout(layout: Layout, place: TargetPlace): TargetPlace {
  const clamp = (v: number | undefined, max: number) => (v === undefined ? v : Math.min(v, max));
  return {
    building: clamp(place.building, layout.buildings),
    floor: clamp(place.floor, layout.floorsPerBuilding),
    room: clamp(place.room, layout.roomsPerFloor),
  };
}

/** The target in words, for messages: "building 1, floor 3 of fleet plant-a". */
export function describeTarget(target: AnomalyTarget): string {
  const parts: string[] = [];
  if (target.building !== undefined) parts.push(`building ${target.building}`);
  if (target.floor !== undefined) parts.push(`floor ${target.floor}`);
  if (target.room !== undefined) parts.push(`room ${target.room}`);
  if (target.deviceIds) parts.push(`the ${target.deviceIds.length} listed device(s)`);
  return parts.length
    ? `${parts.join(', ')} of fleet ${target.fleetId}`
    : `the whole fleet ${target.fleetId}`;
}
