import { HttpStatus, Injectable, Logger } from '@nestjs/common';
import type { Device } from '../devices/fleet.js';
import { type FieldProblem, notFound, ProblemException } from '../http/problem.js';
import { type Clock, systemClock } from '../simulation/clock.js';
import { FleetRegistry } from '../simulation/fleet.registry.js';
import type { SensorName } from '../simulation/sensors/sensor.model.js';
import type { AnomalyEffect, AnomalyKind } from './anomaly.js';
import type { AnomalyDto, AnomalyListDto, AnomalyQueryDto, AnomalyState } from './anomaly.dto.js';
import { effectiveMagnitude, kindSensorProblem, magnitudeProblem } from './anomaly.rules.js';
import { type AnomalyTarget, describeTarget, resolveTarget } from './anomaly.target.js';

/** Ended or cancelled anomalies kept for GET /anomalies. */
export const ENDED_KEPT = 100;
/** Device ids an anomaly lists; `deviceCount` says how many there are in all. */
export const LISTED_DEVICES = 100;
/**
 * Most anomalies scheduled or active at once: every one adds work to each reading of its
 * devices, so the hot path stays bounded.
 */
export const MAX_LIVE_ANOMALIES = 1000;

/** An anomaly to inject: what, where, how strong, when and for how long. */
export interface InjectRequest {
  target: AnomalyTarget;
  sensor: SensorName;
  kind: AnomalyKind;
  magnitude?: number;
  durationMs: number;
  startInMs?: number;
}

interface InjectedAnomaly {
  seq: number;
  id: string;
  kind: AnomalyKind;
  sensor: SensorName;
  magnitude: number | null;
  target: AnomalyTarget;
  deviceCount: number;
  devices: string[];
  startsAt: number;
  endsAt: number;
  createdAt: number;
  cancelledAt?: number;
  scenario?: string;
  /** Each device's own effect (a stuck value is per device); emptied once it is over. */
  effects: Array<{ device: Device; effect: AnomalyEffect }>;
}

const badRequest = (problem: FieldProblem) =>
  new ProblemException(HttpStatus.BAD_REQUEST, problem.message, { errors: [problem] });

const unprocessable = (problem: FieldProblem) =>
  new ProblemException(HttpStatus.UNPROCESSABLE_ENTITY, problem.message, { errors: [problem] });

/**
 * Injected anomalies: validates a request against the kind, the sensor and the fleet, puts
 * one effect on every targeted device (the reading generator applies it by event time and
 * forgets it when it is over), and remembers it for listing and cancelling.
 *
 * The set of devices is fixed when the anomaly is injected: devices added later by scaling
 * the fleet up stream normally, devices removed by scaling down simply stop. Deleting a fleet
 * forgets its anomalies.
 */
@Injectable()
export class AnomalyService {
  private readonly logger = new Logger('Anomalies');
  private readonly anomalies = new Map<string, InjectedAnomaly>();
  private nextSeq = 1;
  /** Wall clock that event times are compared with; replaced by a fake one in unit tests. */
  clock: Clock = systemClock;

  constructor(private readonly fleets: FleetRegistry) {
    fleets.onDelete((fleetId) => this.forgetFleet(fleetId));
  }

  /** Validates and applies an anomaly; `scenario` names the scenario injecting it. */
  inject(request: InjectRequest, scenario?: string): AnomalyDto {
    const { kind, sensor } = request;
    // JSON null in an optional field means "not given", as an absent one does.
    const target = copyTarget(request.target);
    const given = request.magnitude ?? undefined;
    const kindProblem = kindSensorProblem(kind, sensor);
    if (kindProblem) throw badRequest(kindProblem);
    const magProblem = magnitudeProblem(kind, sensor, given);
    if (magProblem) throw badRequest(magProblem);

    const fleet = this.fleets.get(target.fleetId);
    if (!fleet) throw notFound('fleet', target.fleetId);
    if (!fleet.sensors.includes(sensor)) {
      throw unprocessable({
        field: 'sensor',
        rule: 'carriedByFleet',
        message: `fleet ${fleet.id} does not carry sensor ${sensor}; its devices carry ${fleet.sensors.join(', ')}`,
      });
    }
    const { devices, unknownIds } = resolveTarget(fleet, target);
    if (unknownIds.length) {
      const shown = unknownIds.slice(0, 5).join(', ');
      const more = unknownIds.length > 5 ? ` and ${unknownIds.length - 5} more` : '';
      throw unprocessable({
        field: 'target.deviceIds',
        rule: 'inFleet',
        message: `target.deviceIds lists devices that are not in fleet ${fleet.id}: ${shown}${more}`,
      });
    }
    if (devices.length === 0) {
      throw unprocessable({
        field: 'target',
        rule: 'matchesDevices',
        message: `target matches no device: there is no device in ${describeTarget(target)}`,
      });
    }

    const now = this.clock.now();
    this.sweep(now);
    const live = [...this.anomalies.values()].filter((a) => !this.isOver(a, now)).length;
    if (live >= MAX_LIVE_ANOMALIES) {
      throw new ProblemException(
        HttpStatus.UNPROCESSABLE_ENTITY,
        `${live} anomalies are scheduled or active, the most fleetsim runs at once; cancel some or wait until they end`,
      );
    }

    const seq = this.nextSeq++;
    const id = `inj-${seq}`;
    const magnitude = effectiveMagnitude(kind, sensor, given);
    const startsAt = now + (request.startInMs ?? 0);
    const endsAt = startsAt + request.durationMs;
    const effects = devices.map((device) => {
      // One object per device: a stuck sensor holds its own device's value.
      const effect: AnomalyEffect = {
        id,
        kind,
        sensor,
        magnitude: magnitude ?? 0,
        startsAt,
        endsAt,
      };
      device.addEffect(effect);
      return { device, effect };
    });
    const anomaly: InjectedAnomaly = {
      seq,
      id,
      kind,
      sensor,
      magnitude,
      target,
      deviceCount: devices.length,
      devices: devices.slice(0, LISTED_DEVICES).map((d) => d.id),
      startsAt,
      endsAt,
      createdAt: now,
      scenario,
      effects,
    };
    this.anomalies.set(id, anomaly);
    this.logger.log(
      `${id}: ${kind} on ${sensor} of ${devices.length} device(s) in ${describeTarget(target)} ` +
        `from ${new Date(startsAt).toISOString()} for ${request.durationMs} ms` +
        (scenario ? ` (scenario ${scenario})` : ''),
    );
    return this.toDto(anomaly, now);
  }

  list(query: AnomalyQueryDto = {}): AnomalyListDto {
    const now = this.clock.now();
    this.sweep(now);
    const items = [...this.anomalies.values()]
      .filter((a) => query.fleetId === undefined || a.target.fleetId === query.fleetId)
      .map((a) => this.toDto(a, now))
      .filter((a) => query.state === undefined || a.state === query.state)
      .reverse();
    return { items, random: { active: this.activeRandom(now) } };
  }

  get(id: string): AnomalyDto {
    const now = this.clock.now();
    this.sweep(now);
    return this.toDto(this.anomaly(id), now);
  }

  /**
   * Ends an anomaly now: readings from now on (event time) are normal; one that has not
   * started never starts. Cancelling one that is already over changes nothing.
   */
  cancel(id: string): AnomalyDto {
    const anomaly = this.anomaly(id);
    const now = this.clock.now();
    if (!this.isOver(anomaly, now)) {
      for (const { device, effect } of anomaly.effects) {
        if (effect.startsAt >= now) device.removeEffect(effect.id);
        else effect.endsAt = Math.min(effect.endsAt, now);
      }
      anomaly.cancelledAt = now;
      anomaly.endsAt = Math.max(anomaly.startsAt, Math.min(anomaly.endsAt, now));
      anomaly.effects = [];
      this.logger.log(`${id} cancelled`);
    }
    this.sweep(now);
    return this.toDto(anomaly, now);
  }

  /** Cancels those of `ids` that are still known and not over (a scenario that stops). */
  cancelAll(ids: readonly string[]): void {
    for (const id of ids) if (this.anomalies.has(id)) this.cancel(id);
  }

  private anomaly(id: string): InjectedAnomaly {
    const anomaly = this.anomalies.get(id);
    if (!anomaly) throw notFound('anomaly', id);
    return anomaly;
  }

  private isOver(a: InjectedAnomaly, now: number): boolean {
    return a.cancelledAt !== undefined || now >= a.endsAt;
  }

  private state(a: InjectedAnomaly, now: number): AnomalyState {
    if (a.cancelledAt !== undefined) return 'cancelled';
    if (now < a.startsAt) return 'scheduled';
    return now < a.endsAt ? 'active' : 'ended';
  }

  /** Lets go of the effects of anomalies that are over and keeps the last ENDED_KEPT of them. */
  private sweep(now: number): void {
    const over: InjectedAnomaly[] = [];
    for (const a of this.anomalies.values()) {
      if (!this.isOver(a, now)) continue;
      a.effects = [];
      over.push(a);
    }
    if (over.length <= ENDED_KEPT) return;
    over.sort((a, b) => b.endsAt - a.endsAt || b.seq - a.seq);
    for (const a of over.slice(ENDED_KEPT)) this.anomalies.delete(a.id);
  }

  /** Random anomalies (ids `random-…`) acting on some device at `now`. */
  private activeRandom(now: number): number {
    let n = 0;
    for (const fleet of this.fleets.all()) {
      for (const d of fleet.devices) {
        if (d.effects === null) continue;
        for (const e of d.effects) {
          if (e.id.startsWith('random-') && e.startsAt <= now && now < e.endsAt) n++;
        }
      }
    }
    return n;
  }

  private forgetFleet(fleetId: string): void {
    for (const [id, a] of this.anomalies) {
      if (a.target.fleetId === fleetId) this.anomalies.delete(id);
    }
  }

  private toDto(a: InjectedAnomaly, now: number): AnomalyDto {
    return {
      id: a.id,
      kind: a.kind,
      sensor: a.sensor,
      magnitude: a.magnitude,
      target: copyTarget(a.target),
      deviceCount: a.deviceCount,
      devices: [...a.devices],
      startsAt: new Date(a.startsAt).toISOString(),
      endsAt: new Date(a.endsAt).toISOString(),
      state: this.state(a, now),
      createdAt: new Date(a.createdAt).toISOString(),
      ...(a.scenario ? { scenario: a.scenario } : {}),
    };
  }
}

function copyTarget(t: AnomalyTarget): AnomalyTarget {
  return {
    fleetId: t.fleetId,
    ...(t.building != null ? { building: t.building } : {}),
    ...(t.floor != null ? { floor: t.floor } : {}),
    ...(t.room != null ? { room: t.room } : {}),
    ...(t.deviceIds != null ? { deviceIds: [...t.deviceIds] } : {}),
  };
}
