import type { Device, Fleet } from '../model/fleet.js';
import { phaseOf } from '../simulation/scheduler.js';

/**
 * Slot arithmetic of an anchored fleet (cluster mode). Device i's k-th slot is due at
 * anchor + (k + phase(i)) × interval, and its reading carries seq k, so every process knows,
 * from the fleet's schedule alone, which seq a device sends at which time.
 */

/**
 * The cycle a device's seq counts from: 0, or the cycle of the scale-up that added it
 * (Fleet.slotBases), so that a device added later starts at seq 0 too.
 */
export function slotBase(fleet: Fleet, device: Device): number {
  const bases = fleet.slotBases;
  if (bases === undefined) return 0;
  let base = 0;
  for (const [first, cycle] of bases) {
    if (device.index < first) break;
    base = cycle;
  }
  return base;
}

/** The seq of the slot of `device` due at `due` (negative: before the device was added). */
export function slotIndex(fleet: Fleet, device: Device, due: number): number {
  return (
    Math.round((due - fleet.anchorMs!) / fleet.intervalMs - phaseOf(device.index)) -
    slotBase(fleet, device)
  );
}

/** Event time of slot `k` of `device`. */
export function slotTime(fleet: Fleet, device: Device, k: number): number {
  return fleet.anchorMs! + (k + slotBase(fleet, device) + phaseOf(device.index)) * fleet.intervalMs;
}

/** The first slot of `device` due at or after `at` (never below 0). */
export function firstSlotFrom(fleet: Fleet, device: Device, at: number): number {
  const k =
    Math.ceil((at - fleet.anchorMs!) / fleet.intervalMs - phaseOf(device.index) - 1e-9) -
    slotBase(fleet, device);
  return k < 0 ? 0 : k;
}
