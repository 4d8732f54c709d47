import { randomInt } from 'node:crypto';
import { Injectable, Logger } from '@nestjs/common';
import { ClusterService } from '../cluster/cluster.service.js';
import { ConfigService } from '../config/config.service.js';
import { DEFAULT_INTERVAL_MS } from '../config/fleet-spec.dto.js';
import { DomainError, invalidField, notFound } from '../model/domain.error.js';
import { checkIfMatch, etagOf } from '../model/etag.js';
import { ProducerService } from '../producer/producer.service.js';
import { FleetRegistry } from '../simulation/fleet.registry.js';
import { readingObject } from '../simulation/reading.serializer.js';
import { SENSOR_NAMES } from '../model/sensors/sensor.model.js';
import { SimulationService } from '../simulation/simulation.service.js';
import type { DeviceDto, DevicePageDto, DeviceQueryDto } from './device.dto.js';
import { Device, Fleet } from '../model/fleet.js';
import type { CreateFleetDto, FleetDto, UpdateFleetDto } from './fleet.dto.js';
import { deriveLayout, type Layout, parseDeviceId, slugify } from '../model/layout.js';
import type { SensorName } from '../model/sensors/sensor.model.js';
import type { FleetSpecDto } from '../config/fleet-spec.dto.js';

const NAME_NEEDS_LATIN =
  'name must contain a Latin letter or a digit (A-Z, 0-9): the fleet id is made of them';

/**
 * A fleet made from a spec as POST /api/v1/fleets takes it (id from the name, defaults
 * filled in), not attached to anything; `field` prefixes the field named in errors.
 */
export function fleetFromSpec(dto: FleetSpecDto, field = ''): Fleet {
  const id = slugify(dto.name);
  if (!id) {
    throw invalidField({
      field: `${field}name`,
      rule: 'matches',
      message: NAME_NEEDS_LATIN,
    });
  }
  return new Fleet({
    id,
    name: dto.name,
    deviceCount: dto.deviceCount,
    intervalMs: dto.intervalMs ?? DEFAULT_INTERVAL_MS,
    sensors: dto.sensors ? SENSOR_NAMES.filter((s) => dto.sensors!.includes(s)) : [...SENSOR_NAMES],
    layout: dto.layout ? { ...dto.layout } : deriveLayout(dto.deviceCount),
    seed: dto.seed ?? randomInt(0, 2 ** 32 - 1),
  });
}

/** A fleet's desired state as the cluster's control topic holds it (key `fleet:<id>`). */
export interface FleetState {
  id: string;
  name: string;
  deviceCount: number;
  intervalMs: number;
  sensors: SensorName[];
  layout: Layout;
  seed: number;
  createdAt: string;
  /**
   * Cycle 0 of the shared schedule (see FleetSpec.anchorMs), on the cluster's paused-time
   * clock: wall time minus the time the simulation was stopped before (src/cluster/run.state.ts).
   */
  anchorMs: number;
  /** Where devices added by scaling up count their seq from (see Fleet.slotBases). */
  slotBases?: Array<[number, number]>;
}

@Injectable()
export class FleetService {
  private readonly logger = new Logger('Fleets');

  constructor(
    private readonly fleets: FleetRegistry,
    private readonly simulation: SimulationService,
    private readonly producer: ProducerService,
    private readonly config: ConfigService,
    private readonly cluster: ClusterService,
  ) {
    cluster.handle('fleet', (id, value) =>
      value === null ? this.applyDelete(id) : this.applyState(value as FleetState),
    );
  }

  /** Creates the boot fleets; in a cluster, only those no process has created yet. */
  async boot(fleets: CreateFleetDto[]): Promise<void> {
    for (const fleet of fleets) {
      if (!this.cluster.enabled) {
        await this.create(fleet);
        continue;
      }
      const id = slugify(fleet.name);
      if (this.fleets.has(id)) continue;
      const anchorMs = this.cluster.scheduleNow();
      const seed = fleet.seed ?? randomInt(0, 2 ** 32 - 1);
      try {
        await this.create({ ...fleet, seed }, anchorMs);
      } catch (err) {
        // Another member created it since (or at the same moment, and came first).
        if (err instanceof DomainError && err.code === 'CONFLICT') continue;
        throw err;
      }
      // Members booting at once may both have written it. Every member applies the first
      // record (a later one of the same fleet changes neither anchor nor seed), so the first
      // is the fleet everywhere; rewrite it so that the topic's last record, the one
      // compaction keeps for members that join later, says the same.
      const applied = this.fleets.get(id);
      if (applied && (applied.anchorMs !== anchorMs || applied.seed !== seed)) {
        await this.cluster.write('fleet', id, this.stateOf(applied));
      }
    }
  }

  /**
   * Creates a fleet. In cluster mode this process first catches up with the control topic (a
   * fleet created through another process conflicts here too and counts towards the limits),
   * then writes the fleet there and answers once it has applied it.
   */
  async create(dto: CreateFleetDto, anchorMs?: number): Promise<FleetDto> {
    if (this.cluster.enabled) await this.cluster.sync();
    const id = slugify(dto.name);
    if (!id) {
      throw invalidField({
        field: 'name',
        rule: 'matches',
        message: NAME_NEEDS_LATIN,
      });
    }
    if (this.fleets.has(id)) {
      throw new DomainError('CONFLICT', `a fleet with id "${id}" already exists`);
    }
    this.checkCapacity(
      dto.deviceCount,
      (dto.deviceCount * 1000) / (dto.intervalMs ?? DEFAULT_INTERVAL_MS),
    );
    if (this.cluster.enabled) {
      // Cycle 0 now (while the simulation is stopped: where it stopped, so that the fleet
      // begins at seq 0 at the next start).
      const anchor = anchorMs ?? this.cluster.scheduleNow();
      await this.cluster.write('fleet', id, {
        id,
        name: dto.name,
        deviceCount: dto.deviceCount,
        intervalMs: dto.intervalMs ?? DEFAULT_INTERVAL_MS,
        sensors: dto.sensors
          ? SENSOR_NAMES.filter((s) => dto.sensors!.includes(s))
          : [...SENSOR_NAMES],
        layout: dto.layout ? { ...dto.layout } : deriveLayout(dto.deviceCount),
        seed: dto.seed ?? randomInt(0, 2 ** 32 - 1),
        createdAt: new Date().toISOString(),
        anchorMs: this.cluster.toSharedAnchor(anchor),
      } satisfies FleetState);
      return this.get(id);
    }
    const fleet = fleetFromSpec(dto);
    this.attach(fleet);
    return this.toDto(fleet);
  }

  private attach(fleet: Fleet): void {
    const id = fleet.id;
    this.simulation.attach(fleet);
    this.logger.log(
      `fleet ${id} created: ${fleet.deviceCount} devices every ${fleet.intervalMs} ms (${fleet.targetRate.toFixed(0)} msg/s), seed ${fleet.seed}`,
    );
  }

  /** Applies a fleet's desired state from the control topic: creates, scales or retimes it. */
  private applyState(state: FleetState): void {
    const fleet = this.fleets.get(state.id);
    if (!fleet) {
      const created = new Fleet({
        ...state,
        createdAt: new Date(state.createdAt),
        anchorMs: this.cluster.fromSharedAnchor(state.anchorMs),
      });
      created.slotBases = state.slotBases;
      this.attach(created);
      return;
    }
    fleet.slotBases = state.slotBases;
    this.resize(fleet, state.deviceCount);
    this.retime(fleet, state.intervalMs, this.cluster.fromSharedAnchor(state.anchorMs));
  }

  private applyDelete(id: string): void {
    if (!this.fleets.has(id)) return;
    this.simulation.detach(id);
    this.logger.log(`fleet ${id} deleted`);
  }

  private resize(fleet: Fleet, deviceCount: number): void {
    if (deviceCount === fleet.deviceCount) return;
    const before = fleet.deviceCount;
    fleet.resize(deviceCount);
    this.simulation.resized(fleet);
    this.logger.log(`fleet ${fleet.id} scaled from ${before} to ${fleet.deviceCount} devices`);
  }

  private retime(fleet: Fleet, intervalMs: number, anchorMs?: number): void {
    if (intervalMs === fleet.intervalMs) return;
    const before = fleet.intervalMs;
    const anchorBefore = fleet.anchorMs;
    fleet.intervalMs = intervalMs;
    if (anchorMs !== undefined) fleet.anchorMs = anchorMs;
    this.simulation.retimed(fleet, before, anchorBefore);
    this.logger.log(`fleet ${fleet.id} interval changed from ${before} to ${fleet.intervalMs} ms`);
  }

  list(): FleetDto[] {
    return this.fleets.all().map((f) => this.toDto(f));
  }

  get(id: string): FleetDto {
    return this.toDto(this.fleet(id));
  }

  /**
   * Scales a fleet and/or changes its interval while it streams. With `ifMatch`, only when the
   * fleet is still the version it names (STALE_VERSION otherwise; VERSION_REQUIRED when
   * server.requireIfMatch is on and it is missing). In cluster mode this process first catches
   * up with the control topic, so an ETag read from another process is current here too.
   */
  async update(id: string, dto: UpdateFleetDto, ifMatch?: string): Promise<FleetDto> {
    if (this.cluster.enabled) await this.cluster.sync();
    const fleet = this.fleet(id);
    // A body that is invalid in itself is refused as such (400), whatever version If-Match
    // names, as PATCH /api/v1/config does: only a valid change is compared with the version.
    if (dto.deviceCount === undefined && dto.intervalMs === undefined) {
      throw invalidField({
        field: 'deviceCount',
        rule: 'required',
        message: 'give deviceCount and/or intervalMs',
      });
    }
    checkIfMatch(
      ifMatch,
      etagOf(this.toDto(fleet)),
      this.config.config.server.requireIfMatch,
      `fleet ${id}`,
    );
    const deviceCount = dto.deviceCount ?? fleet.deviceCount;
    const intervalMs = dto.intervalMs ?? fleet.intervalMs;
    this.checkCapacity(
      deviceCount - fleet.deviceCount,
      (deviceCount * 1000) / intervalMs - fleet.targetRate,
    );
    if (this.cluster.enabled) {
      const state = this.stateOf(fleet);
      // Where the schedule stands (while stopped: where it stopped), on the wall clock.
      const now = this.cluster.scheduleNow();
      let anchor = fleet.anchorMs ?? fleet.createdAt.getTime();
      if (dto.deviceCount !== undefined) state.deviceCount = dto.deviceCount;
      if (dto.intervalMs !== undefined && dto.intervalMs !== fleet.intervalMs) {
        // Move the anchor so the cycle index continues at the new interval.
        const cycles = (now - anchor) / fleet.intervalMs;
        anchor = now - cycles * dto.intervalMs;
        state.intervalMs = dto.intervalMs;
        state.anchorMs = this.cluster.toSharedAnchor(anchor);
      }
      if (state.deviceCount > fleet.deviceCount) {
        // The added devices count their seq from the next full cycle (their first slot).
        const cycle = Math.floor((now - anchor) / state.intervalMs) + 1;
        state.slotBases = [...(state.slotBases ?? []), [fleet.deviceCount, cycle]];
      } else {
        const bases = state.slotBases?.filter(([first]) => first < state.deviceCount);
        state.slotBases = bases?.length ? bases : undefined;
      }
      await this.cluster.write('fleet', id, state);
      return this.get(id);
    }
    if (dto.deviceCount !== undefined) this.resize(fleet, dto.deviceCount);
    if (dto.intervalMs !== undefined) this.retime(fleet, dto.intervalMs);
    return this.toDto(fleet);
  }

  async delete(id: string): Promise<void> {
    this.fleet(id);
    if (this.cluster.enabled) return this.cluster.write('fleet', id, null);
    this.applyDelete(id);
  }

  private stateOf(f: Fleet): FleetState {
    return {
      id: f.id,
      name: f.name,
      deviceCount: f.deviceCount,
      intervalMs: f.intervalMs,
      sensors: f.sensors,
      layout: { ...f.layout },
      seed: f.seed,
      createdAt: f.createdAt.toISOString(),
      anchorMs: this.cluster.toSharedAnchor(f.anchorMs ?? f.createdAt.getTime()),
      ...(f.slotBases
        ? { slotBases: f.slotBases.map(([i, c]) => [i, c] as [number, number]) }
        : {}),
    };
  }

  devices(id: string, q: DeviceQueryDto): DevicePageDto {
    const fleet = this.fleet(id);
    const page = q.page ?? 1;
    const limit = q.limit ?? 100;
    const matching = fleet.devices.filter(
      (d) =>
        (q.building === undefined || d.location.building === q.building) &&
        (q.floor === undefined || d.location.floor === q.floor) &&
        (q.room === undefined || d.location.room === q.room),
    );
    const items = matching
      .slice((page - 1) * limit, page * limit)
      .map((d) => this.deviceDto(fleet, d));
    return { items, page, limit, total: matching.length };
  }

  device(deviceId: string): DeviceDto {
    const parsed = parseDeviceId(deviceId);
    const fleet = parsed && this.fleets.get(parsed.fleetId);
    const device = fleet?.devices[parsed!.index];
    if (!fleet || !device || device.id !== deviceId) throw notFound('device', deviceId);
    return this.deviceDto(fleet, device);
  }

  /** The fleet with this id, or a NOT_FOUND error. */
  fleet(id: string): Fleet {
    const fleet = this.fleets.get(id);
    if (!fleet) throw notFound('fleet', id);
    return fleet;
  }

  /**
   * Refuses a change that would take the fleets past limits.maxDevices or
   * limits.maxTargetRate (422 naming the field and the limit).
   */
  private checkCapacity(addingDevices: number, addingRate: number): void {
    const { maxDevices, maxTargetRate } = this.config.config.limits;
    const devices = this.fleets.deviceCount + addingDevices;
    if (addingDevices > 0 && devices > maxDevices) {
      const message = `that would make ${devices} devices in all; fleetsim runs at most ${maxDevices} (limits.maxDevices)`;
      throw new DomainError(
        'LIMIT_EXCEEDED',
        message,
        [{ field: 'deviceCount', rule: 'maxDevices', message }],
        { limit: maxDevices },
      );
    }
    const rate = Math.round(this.fleets.targetRate + addingRate);
    if (addingRate > 0 && rate > maxTargetRate) {
      const message = `that would make the fleets target ${rate} readings/s in all; fleetsim runs at most ${maxTargetRate} (limits.maxTargetRate)`;
      throw new DomainError(
        'LIMIT_EXCEEDED',
        message,
        [{ field: 'deviceCount', rule: 'maxTargetRate', message }],
        { limit: maxTargetRate },
      );
    }
  }

  private toDto(f: Fleet): FleetDto {
    return {
      id: f.id,
      name: f.name,
      deviceCount: f.deviceCount,
      intervalMs: f.intervalMs,
      sensors: f.sensors,
      layout: { ...f.layout },
      seed: f.seed,
      targetRate: Math.round(f.targetRate * 100) / 100,
      createdAt: f.createdAt.toISOString(),
    };
  }

  private deviceDto(fleet: Fleet, d: Device): DeviceDto {
    return {
      id: d.id,
      fleetId: fleet.id,
      number: d.index + 1,
      location: { ...d.location },
      sensors: fleet.sensors,
      partition: this.producer.partitionOf(d.keyHash(), this.simulation.topicOf(fleet.id)),
      nextSeq: d.seq,
      lastReading: d.lastTs >= 0 ? readingObject(fleet, d) : null,
    };
  }
}
