import { Injectable } from '@nestjs/common';
import type { Fleet } from '../devices/fleet.js';

/** The fleets that exist, by id. */
@Injectable()
export class FleetRegistry {
  private readonly fleets = new Map<string, Fleet>();

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
    return this.fleets.delete(id);
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
