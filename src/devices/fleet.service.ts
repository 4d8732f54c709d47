import { randomInt } from 'node:crypto';
import { HttpStatus, Injectable, Logger } from '@nestjs/common';
import { notFound, ProblemException } from '../http/problem.js';
import { partitionFor } from '../producer/fnv1a.partitioner.js';
import { ProducerService } from '../producer/producer.service.js';
import { FleetRegistry } from '../simulation/fleet.registry.js';
import { readingObject } from '../simulation/reading.serializer.js';
import { SENSOR_NAMES } from '../simulation/sensors/sensor.model.js';
import { SimulationService } from '../simulation/simulation.service.js';
import type { DeviceDto, DevicePageDto, DeviceQueryDto } from './device.dto.js';
import { Device, Fleet } from './fleet.js';
import type { CreateFleetDto, FleetDto, UpdateFleetDto } from './fleet.dto.js';
import { deriveLayout, parseDeviceId, slugify } from './layout.js';

/** Most devices across all fleets, so one process cannot be asked for unbounded memory. */
export const MAX_TOTAL_DEVICES = 1_000_000;

@Injectable()
export class FleetService {
  private readonly logger = new Logger('Fleets');

  constructor(
    private readonly fleets: FleetRegistry,
    private readonly simulation: SimulationService,
    private readonly producer: ProducerService,
  ) {}

  create(dto: CreateFleetDto): FleetDto {
    const id = slugify(dto.name);
    if (!id) {
      throw new ProblemException(
        HttpStatus.BAD_REQUEST,
        'name must contain a Latin letter or a digit (A-Z, 0-9): the fleet id is made of them',
        {
          errors: [
            {
              field: 'name',
              rule: 'matches',
              message:
                'name must contain a Latin letter or a digit (A-Z, 0-9): the fleet id is made of them',
            },
          ],
        },
      );
    }
    if (this.fleets.has(id)) {
      throw new ProblemException(HttpStatus.CONFLICT, `a fleet with id "${id}" already exists`);
    }
    this.checkTotal(dto.deviceCount);
    const fleet = new Fleet({
      id,
      name: dto.name,
      deviceCount: dto.deviceCount,
      intervalMs: dto.intervalMs ?? 5000,
      sensors: dto.sensors
        ? SENSOR_NAMES.filter((s) => dto.sensors!.includes(s))
        : [...SENSOR_NAMES],
      layout: dto.layout ? { ...dto.layout } : deriveLayout(dto.deviceCount),
      seed: dto.seed ?? randomInt(0, 2 ** 32 - 1),
    });
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
      throw new ProblemException(HttpStatus.BAD_REQUEST, 'give deviceCount and/or intervalMs', {
        errors: [
          { field: 'deviceCount', rule: 'required', message: 'give deviceCount and/or intervalMs' },
        ],
      });
    }
    if (dto.deviceCount !== undefined && dto.deviceCount !== fleet.deviceCount) {
      this.checkTotal(dto.deviceCount - fleet.deviceCount);
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

  /** The fleet with this id, or a 404 problem. */
  fleet(id: string): Fleet {
    const fleet = this.fleets.get(id);
    if (!fleet) throw notFound('fleet', id);
    return fleet;
  }

  private checkTotal(adding: number): void {
    const total = this.fleets.deviceCount + adding;
    if (total > MAX_TOTAL_DEVICES) {
      throw new ProblemException(
        HttpStatus.UNPROCESSABLE_ENTITY,
        `that would make ${total} devices in all; one fleetsim runs at most ${MAX_TOTAL_DEVICES}`,
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
      partition: partitionFor(d.hash, this.producer.sender.partitionCount),
      nextSeq: d.seq,
      lastReading: d.lastTs >= 0 ? readingObject(fleet, d) : null,
    };
  }
}
