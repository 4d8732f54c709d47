import { Injectable } from '@nestjs/common';
import type { Fleet } from '../model/fleet.js';

/** The fleets that exist, by id. */
@Injectable()
export class FleetRegistry {
  private readonly fleets = new Map<string, Fleet>();
  private readonly deleteListeners: Array<(fleetId: string) => void> = [];

  get(id: string): Fleet | undefined {
    return this.fleets.get(id);
  }

  has(id: string): boolean {
    return this.fleets.has(id);
  }

  add(fleet: Fleet): void {
    this.fleets.set(fleet.id, fleet);
  }

  delete(id: string): boolean {
    const deleted = this.fleets.delete(id);
    if (deleted) for (const listener of this.deleteListeners) listener(id);
    return deleted;
  }

  /** Calls `listener` with the id of every fleet deleted from now on. */
  onDelete(listener: (fleetId: string) => void): void {
    this.deleteListeners.push(listener);
  }

  all(): Fleet[] {
    return [...this.fleets.values()];
  }

  get size(): number {
    return this.fleets.size;
  }

  get deviceCount(): number {
    let n = 0;
    for (const f of this.fleets.values()) n += f.devices.length;
    return n;
  }

  get targetRate(): number {
    let r = 0;
    for (const f of this.fleets.values()) r += f.targetRate;
    return r;
  }
}
