import { randomInt } from 'node:crypto';
import { Injectable, Logger } from '@nestjs/common';
import { ConfigService } from '../config/config.service.js';
import { DEFAULT_INTERVAL_MS } from '../config/fleet-spec.dto.js';
import { DomainError, invalidField, notFound } from '../model/domain.error.js';
import { ProducerService } from '../producer/producer.service.js';
import { recordKey } from '../producer/record.key.js';
import { FleetRegistry } from '../simulation/fleet.registry.js';
import { readingObject } from '../simulation/reading.serializer.js';
import { SENSOR_NAMES } from '../model/sensors/sensor.model.js';
import { SimulationService } from '../simulation/simulation.service.js';
import type { DeviceDto, DevicePageDto, DeviceQueryDto } from './device.dto.js';
import { Device, Fleet } from '../model/fleet.js';
import type { CreateFleetDto, FleetDto, UpdateFleetDto } from './fleet.dto.js';
import type { FleetSpecDto } from '../config/fleet-spec.dto.js';
import { deriveLayout, parseDeviceId, slugify } from '../model/layout.js';

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
      message: 'name must contain a letter or digit',
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

@Injectable()
export class FleetService {
  private readonly logger = new Logger('Fleets');

  constructor(
    private readonly fleets: FleetRegistry,
    private readonly simulation: SimulationService,
    private readonly producer: ProducerService,
    private readonly config: ConfigService,
  ) {}

  create(dto: CreateFleetDto): FleetDto {
    const id = slugify(dto.name);
    if (this.fleets.has(id)) {
      throw new DomainError('CONFLICT', `a fleet with id "${id}" already exists`);
    }
    this.checkCapacity(
      dto.deviceCount,
      (dto.deviceCount * 1000) / (dto.intervalMs ?? DEFAULT_INTERVAL_MS),
    );
    const fleet = fleetFromSpec(dto);
    this.simulation.attach(fleet);
    this.logger.log(
      `fleet ${id} created: ${fleet.deviceCount} devices every ${fleet.intervalMs} ms (${fleet.targetRate.toFixed(0)} msg/s), seed ${fleet.seed}`,
    );
    return this.toDto(fleet);
  }

  list(): FleetDto[] {
    return this.fleets.all().map((f) => this.toDto(f));
  }

  get(id: string): FleetDto {
    return this.toDto(this.fleet(id));
  }

  /** Scales a fleet and/or changes its interval while it streams. */
  update(id: string, dto: UpdateFleetDto): FleetDto {
    const fleet = this.fleet(id);
    if (dto.deviceCount === undefined && dto.intervalMs === undefined) {
      throw invalidField({
        field: 'deviceCount',
        rule: 'required',
        message: 'give deviceCount and/or intervalMs',
      });
    }
    const deviceCount = dto.deviceCount ?? fleet.deviceCount;
    const intervalMs = dto.intervalMs ?? fleet.intervalMs;
    this.checkCapacity(
      deviceCount - fleet.deviceCount,
      (deviceCount * 1000) / intervalMs - fleet.targetRate,
    );
    if (dto.deviceCount !== undefined && dto.deviceCount !== fleet.deviceCount) {
      const before = fleet.deviceCount;
      fleet.resize(dto.deviceCount);
      this.simulation.resized(fleet);
      this.logger.log(`fleet ${id} scaled from ${before} to ${fleet.deviceCount} devices`);
    }
    if (dto.intervalMs !== undefined && dto.intervalMs !== fleet.intervalMs) {
      const before = fleet.intervalMs;
      fleet.intervalMs = dto.intervalMs;
      this.simulation.retimed(fleet, before);
      this.logger.log(`fleet ${id} interval changed from ${before} to ${fleet.intervalMs} ms`);
    }
    return this.toDto(fleet);
  }

  delete(id: string): void {
    this.fleet(id);
    this.simulation.detach(id);
    this.logger.log(`fleet ${id} deleted`);
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
      partition: this.producer.partitionOf(recordKey(d.id).hash, this.simulation.topicOf(fleet.id)),
      nextSeq: d.seq,
      lastReading: d.lastTs >= 0 ? readingObject(fleet, d) : null,
    };
  }
}
