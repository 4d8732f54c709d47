import { randomUUID } from 'node:crypto';
import { Inject, Injectable, Logger, Optional } from '@nestjs/common';
import { ClusterService } from '../cluster/cluster.service.js';
import { ConfigService } from '../config/config.service.js';
import { LimitsConfig } from '../config/fleetsim.config.js';
import type { Fleet } from '../model/fleet.js';
import type { Device } from '../model/fleet.js';
import { deviceId, locate } from '../model/layout.js';
import { DomainError, type FieldProblem, invalidField, notFound } from '../model/domain.error.js';
import { CLOCK, type Clock } from '../model/clock.js';
import { FleetRegistry } from '../simulation/fleet.registry.js';
import type { SensorName } from '../model/sensors/sensor.model.js';
import type { AnomalyEffect, AnomalyKind } from '../model/anomaly.js';
import type { AnomalyDto, AnomalyListDto, AnomalyQueryDto, AnomalyState } from './anomaly.dto.js';
import { effectiveMagnitude, kindSensorProblem, magnitudeProblem } from './anomaly.rules.js';
import { type AnomalyTarget, describeTarget, resolveTarget } from './anomaly.target.js';
import { AnomalyLabels, type LabelEvent } from './anomaly.labels.js';

/** The scenario (and its stage) that injects an anomaly. */
export interface InjectedBy {
  scenario: string;
  stage?: string;
}

/**
 * Ended or cancelled anomalies kept for GET /anomalies (the oldest to end is forgotten first).
 * Each keeps its target's device ids as 4-byte ordinals (at most 400 KB for 100,000 ids).
 */
export const ENDED_KEPT = 100;
/**
 * Device ids an anomaly lists in `devices`, and the target's `deviceIds` a list response
 * carries (GET by id carries them all); `deviceCount` says how many there are in all.
 */
export const LISTED_DEVICES = 100;
/** Longest wait between two tries to take an ended anomaly's effects off lagging devices. */
const RELEASE_RETRY_MAX_MS = 60_000;
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

/**
 * An anomaly as the cluster's control topic holds it (key `anomaly:<id>`): everything a
 * process needs to place the same effects on the same devices at the same event times.
 */
export interface SharedAnomaly {
  kind: AnomalyKind;
  sensor: SensorName;
  magnitude: number | null;
  target: AnomalyTarget;
  startsAt: number;
  endsAt: number;
  createdAt: number;
  cancelledAt?: number;
  /** `inj-<n>`, n the offset of its first record; absent in that first record. */
  id?: string;
}

/** A validated request: the fleet's devices it acts on. */
interface Planned {
  fleet: Fleet;
  devices: Device[];
  /** See ResolvedTarget.listed. */
  listed?: Int32Array;
  target: AnomalyTarget;
  magnitude: number | null;
}

interface InjectedAnomaly {
  seq: number;
  id: string;
  kind: AnomalyKind;
  sensor: SensorName;
  magnitude: number | null;
  /** The target without its device ids (see targetIds). */
  target: AnomalyTarget;
  /** The ordinals of target.deviceIds (sorted, once each), when the target lists devices. */
  targetIds?: Int32Array;
  fleet: Fleet;
  deviceCount: number;
  /** Ids of the first LISTED_DEVICES devices. */
  devices: string[];
  startsAt: number;
  endsAt: number;
  createdAt: number;
  cancelledAt?: number;
  scenario?: string;
  stage?: string;
  /** Cluster mode: the key of its control-topic record (`anomaly:<key>`). */
  sharedKey?: string;
  /** Timers of the label topic's started and ended events. */
  labelTimers?: unknown[];
  /**
   * While the anomaly's effects may still be on devices: the ordinals of those devices, and
   * the effect (one object shared by every device) or, for stuck, one per device (a stuck
   * sensor holds its own device's value) in the same order. Undefined once released.
   */
  placed?: { indexes: Int32Array; effect: AnomalyEffect | AnomalyEffect[] };
  /** The timer that releases the effects once the anomaly is over (see release()). */
  releaseTimer?: unknown;
}

const badRequest = invalidField;

const unprocessable = (problem: FieldProblem) =>
  new DomainError('INVALID_PLAN', problem.message, [problem]);

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
  constructor(
    private readonly fleets: FleetRegistry,
    /** Wall clock that event times are compared with. */
    @Inject(CLOCK) private readonly clock: Clock,
    private readonly labels: AnomalyLabels,
    @Optional() private readonly config?: ConfigService,
    /** Cluster mode: injections and cancellations go through the control topic. */
    @Optional() private readonly cluster?: ClusterService,
  ) {
    fleets.onDelete((fleetId) => this.forgetFleet(fleetId));
    cluster?.handle('anomaly', (key, value, offset) =>
      this.applyShared(key, value as SharedAnomaly | null, offset),
    );
  }

  private get shared(): boolean {
    return this.cluster?.enabled === true;
  }

  /**
   * The REST path: injects here, or in cluster mode validates here, writes the anomaly to the
   * control topic and answers once this process has applied it (every process places it).
   */
  async submit(request: InjectRequest): Promise<AnomalyDto> {
    if (!this.shared) return this.inject(request);
    const planned = this.plan(request);
    const now = this.clock.now();
    const startsAt = now + (request.startInMs ?? 0);
    // Named `inj-<n>` as in a single process, n the offset of its record in the control
    // topic (unique without coordination); keyed by a random key until then.
    const key = randomUUID().slice(0, 8);
    await this.cluster!.write('anomaly', key, {
      kind: request.kind,
      sensor: request.sensor,
      magnitude: planned.magnitude,
      target: planned.target,
      startsAt,
      endsAt: startsAt + request.durationMs,
      createdAt: now,
    } satisfies SharedAnomaly);
    const placed = [...this.anomalies.values()].find((a) => a.sharedKey === key);
    // Not placed: its fleet was deleted in the meantime.
    if (!placed) throw notFound('fleet', request.target.fleetId);
    return this.get(placed.id);
  }

  /** The REST path of cancel: in cluster mode, through the control topic. */
  async withdraw(id: string): Promise<AnomalyDto> {
    if (!this.shared) return this.cancel(id);
    const a = this.anomaly(id);
    const now = this.clock.now();
    // A scenario's anomaly is cancelled in this process only: it writes the label itself.
    if (this.isOver(a, now) || a.scenario !== undefined) return this.cancel(id, undefined, true);
    await this.cluster!.write('anomaly', a.sharedKey ?? id, {
      ...sharedOf(a),
      id,
      cancelledAt: now,
    });
    return this.get(id);
  }

  /** Applies an anomaly record of the control topic (every process, in topic order). */
  private applyShared(key: string, record: SharedAnomaly | null, offset: number): void {
    if (record === null) {
      const known = [...this.anomalies.values()].find((a) => a.sharedKey === key);
      if (known) {
        this.cancel(known.id);
        this.anomalies.delete(known.id);
      }
      return;
    }
    const id = record.id ?? `inj-${offset}`;
    const known = this.anomalies.get(id);
    if (!known) {
      const fleet = this.fleets.get(record.target.fleetId);
      if (!fleet) return; // its fleet was deleted since
      const { devices, listed } = resolveTarget(fleet, record.target);
      this.place(
        id,
        { fleet, devices, listed, target: record.target, magnitude: record.magnitude },
        {
          kind: record.kind,
          sensor: record.sensor,
          startsAt: record.startsAt,
          endsAt: record.endsAt,
          createdAt: record.createdAt,
        },
      );
      this.anomalies.get(id)!.sharedKey = key;
    }
    if (record.cancelledAt !== undefined) this.cancel(id, record.cancelledAt);
  }

  /**
   * Validates and applies an anomaly; `by` names the scenario (and stage) injecting it;
   * `fixed` gives its id and start (cluster mode: every process injects a scenario's
   * anomalies with the same id and times).
   */
  inject(
    request: InjectRequest,
    by?: string | InjectedBy,
    fixed?: { id: string; startsAt: number },
  ): AnomalyDto {
    const scenario = typeof by === 'string' ? by : by?.scenario;
    const stage = typeof by === 'string' ? undefined : by?.stage;
    const planned = this.plan(request);
    const now = this.clock.now();
    const startsAt = fixed?.startsAt ?? now + (request.startInMs ?? 0);
    // place() takes nextSeq for the anomaly's order; a local id names it.
    return this.place(fixed?.id ?? `inj-${this.nextSeq}`, planned, {
      kind: request.kind,
      sensor: request.sensor,
      startsAt,
      endsAt: startsAt + request.durationMs,
      // Cluster mode: the same in every process (the stage's start), like id and start.
      createdAt: fixed ? Math.min(now, fixed.startsAt) : now,
      scenario,
      stage,
    });
  }

  /** Checks a request against the kind, the sensor, the fleet and the limit. */
  private plan(request: InjectRequest): Planned {
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
    const { devices, unknownIds, listed } = resolveTarget(fleet, target);
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
    const liveAnomalies = [...this.anomalies.values()].filter((a) => !this.isOver(a, now));
    const live = liveAnomalies.length;
    if (live >= MAX_LIVE_ANOMALIES) {
      throw new DomainError(
        'LIMIT_EXCEEDED',
        `${live} anomalies are scheduled or active, the most fleetsim runs at once; cancel some or wait until they end`,
      );
    }
    const { maxAnomalyDevices } = this.config?.config.limits ?? new LimitsConfig();
    const targeted = liveAnomalies.reduce((n, a) => n + a.deviceCount, 0) + devices.length;
    if (targeted > maxAnomalyDevices) {
      const message =
        `target: that would make ${targeted} devices targeted by scheduled or active anomalies; ` +
        `fleetsim allows at most ${maxAnomalyDevices} (limits.maxAnomalyDevices); cancel some or wait until they end`;
      throw new DomainError(
        'LIMIT_EXCEEDED',
        message,
        [{ field: 'target', rule: 'maxAnomalyDevices', message }],
        { limit: maxAnomalyDevices },
      );
    }

    return {
      fleet,
      devices,
      listed,
      target,
      magnitude: effectiveMagnitude(kind, sensor, given),
    };
  }

  /** Puts one effect on every device of a planned anomaly and remembers it. */
  private place(
    id: string,
    { fleet, devices, listed, target, magnitude }: Planned,
    when: {
      kind: AnomalyKind;
      sensor: SensorName;
      startsAt: number;
      endsAt: number;
      createdAt: number;
      scenario?: string;
      stage?: string;
    },
  ): AnomalyDto {
    const { kind, sensor, startsAt, endsAt, createdAt, scenario, stage } = when;
    const seq = this.nextSeq++;
    const effectOf = (): AnomalyEffect => ({
      id,
      kind,
      sensor,
      magnitude: magnitude ?? 0,
      startsAt,
      endsAt,
    });
    // One effect shared by every device, but one per device for stuck: a stuck sensor holds
    // its own device's value (the only thing a reading writes into an effect).
    const effect = kind === 'stuck' ? devices.map(effectOf) : effectOf();
    const indexes = new Int32Array(devices.length);
    for (let i = 0; i < devices.length; i++) {
      indexes[i] = devices[i].index;
      devices[i].addEffect(Array.isArray(effect) ? effect[i] : effect);
    }
    const { deviceIds: _listedIds, ...place } = target;
    const anomaly: InjectedAnomaly = {
      seq,
      id,
      kind,
      sensor,
      magnitude,
      target: place,
      targetIds: listed,
      fleet,
      deviceCount: devices.length,
      devices: devices.slice(0, LISTED_DEVICES).map((d) => d.id),
      startsAt,
      endsAt,
      createdAt,
      scenario,
      stage,
      placed: { indexes, effect },
    };
    this.anomalies.set(id, anomaly);
    this.scheduleRelease(anomaly, endsAt);
    if (this.labels.enabled) {
      const now = this.clock.now();
      this.label(anomaly, 'injected', createdAt);
      const at = (event: LabelEvent, time: number) =>
        this.clock.setTimeout(() => this.label(anomaly, event, time), Math.max(0, time - now));
      anomaly.labelTimers = [at('started', startsAt), at('ended', endsAt)];
    }
    this.logger.log(
      `${id}: ${kind} on ${sensor} of ${devices.length} device(s) in ${describeTarget(target)} ` +
        `from ${new Date(startsAt).toISOString()} for ${endsAt - startsAt} ms` +
        (scenario ? ` (scenario ${scenario})` : ''),
    );
    this.sweep(this.clock.now()); // the history stays bounded on every path (cluster too)
    return this.toDto(anomaly, this.clock.now(), true);
  }

  list(query: AnomalyQueryDto = {}): AnomalyListDto {
    const now = this.clock.now();
    this.sweep(now);
    const items = [...this.anomalies.values()]
      .filter((a) => query.fleetId === undefined || a.target.fleetId === query.fleetId)
      .map((a) => this.toDto(a, now, false))
      .filter((a) => query.state === undefined || a.state === query.state)
      .reverse();
    return { items, random: { active: this.activeRandom(now) } };
  }

  get(id: string): AnomalyDto {
    const now = this.clock.now();
    this.sweep(now);
    return this.toDto(this.anomaly(id), now, true);
  }

  /**
   * Ends an anomaly now: its effects are taken off every device at once, so readings made
   * from now on are normal (late ones of a lagging schedule too); one that has not started
   * never starts. Cancelling one that is already over changes nothing.
   */
  cancel(id: string, at?: number, labelHere = false): AnomalyDto {
    const anomaly = this.anomaly(id);
    const now = at ?? this.clock.now();
    if (!this.isOver(anomaly, now)) {
      anomaly.cancelledAt = now;
      anomaly.endsAt = Math.max(anomaly.startsAt, Math.min(anomaly.endsAt, now));
      this.release(anomaly, true);
      this.clearLabelTimers(anomaly);
      if (this.labels.enabled) this.label(anomaly, 'cancelled', now, labelHere);
      this.logger.log(`${id} cancelled`);
    }
    this.sweep(now);
    return this.toDto(anomaly, now, true);
  }

  /** Cancels those of `ids` that are still known and not over (a scenario that stops). */
  cancelAll(ids: readonly string[], at?: number): void {
    for (const id of ids) if (this.anomalies.has(id)) this.cancel(id, at);
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

  /**
   * Keeps the last ENDED_KEPT anomalies that are over; older ones are forgotten, their
   * effects taken off any device still holding them.
   */
  private sweep(now: number): void {
    const over: InjectedAnomaly[] = [];
    for (const a of this.anomalies.values()) if (this.isOver(a, now)) over.push(a);
    if (over.length <= ENDED_KEPT) return;
    over.sort((a, b) => b.endsAt - a.endsAt || b.seq - a.seq);
    for (const a of over.slice(ENDED_KEPT)) {
      this.release(a, true);
      this.clearLabelTimers(a);
      this.anomalies.delete(a.id);
    }
  }

  /** Has release() run when the anomaly ends (event time `at`). */
  private scheduleRelease(a: InjectedAnomaly, at: number, minDelayMs = 0): void {
    this.clock.clearTimeout(a.releaseTimer);
    a.releaseTimer = this.clock.setTimeout(
      () => {
        a.releaseTimer = undefined;
        this.release(a, false, minDelayMs);
      },
      Math.max(minDelayMs, at - this.clock.now()),
    );
  }

  /**
   * Takes the anomaly's effects off its devices, so that no device holds the effect of an
   * anomaly that is over (a device that reads once an hour, or not at all while the
   * simulation is stopped, would otherwise keep it until its next reading). `force` (cancel,
   * eviction from the history): off every device now. Otherwise (the anomaly ran its course):
   * off every device whose next reading is at or after the end; a device whose schedule lags
   * (an outage under the block policy) keeps it for the readings still due before the end and
   * is tried again later, waiting twice as long each time (1 s … 60 s).
   */
  private release(a: InjectedAnomaly, force: boolean, lastDelayMs = 0): void {
    const placed = a.placed;
    this.clock.clearTimeout(a.releaseTimer);
    a.releaseTimer = undefined;
    if (!placed) return;
    const { indexes, effect } = placed;
    const each = Array.isArray(effect) ? effect : undefined;
    const devices = a.fleet.devices;
    const interval = a.fleet.intervalMs;
    let left = 0;
    for (let i = 0; i < indexes.length; i++) {
      const d: Device | undefined = devices[indexes[i]];
      const e = each ? each[i] : effect;
      // Gone with a scale-down, or already dropped by a reading past the end.
      if (d === undefined || d.effects === null || !d.effects.includes(e as AnomalyEffect))
        continue;
      if (!force && d.lastTs + interval < a.endsAt) {
        indexes[left] = indexes[i];
        if (each) each[left] = each[i];
        left++;
        continue;
      }
      d.removeEffect(a.id);
      if (d.lastLabel === e) d.lastLabel = null;
    }
    if (left === 0) {
      a.placed = undefined;
      return;
    }
    a.placed = { indexes: indexes.slice(0, left), effect: each ? each.slice(0, left) : effect };
    const delay = Math.min(RELEASE_RETRY_MAX_MS, Math.max(1000, lastDelayMs * 2));
    this.scheduleRelease(a, 0, delay);
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

  /**
   * Writes a lifecycle event of `a` to the label topic; in cluster mode through the one
   * process that writes the anomaly's labels (every process calls this), unless `here`.
   */
  private label(a: InjectedAnomaly, event: LabelEvent, at: number, here = false): void {
    if (event !== 'cancelled' && a.cancelledAt !== undefined && a.cancelledAt <= at) return;
    const publish = () => this.publishLabel(a, event, at);
    if (this.cluster && !here) this.cluster.label(a.id, at, publish);
    else publish();
  }

  private publishLabel(a: InjectedAnomaly, event: LabelEvent, at: number): void {
    // Written later (its partition was between owners): not if cancelled before it.
    if (event !== 'cancelled' && a.cancelledAt !== undefined && a.cancelledAt <= at) return;
    this.labels.publish({
      event,
      anomalyId: a.id,
      at: new Date(at).toISOString(),
      kind: a.kind,
      sensor: a.sensor,
      magnitude: a.magnitude,
      target: targetOf(a, Infinity).target,
      deviceCount: a.deviceCount,
      devices: [...a.devices],
      startsAt: new Date(a.startsAt).toISOString(),
      endsAt: new Date(a.endsAt).toISOString(),
      scenario: a.scenario ?? null,
      stage: a.stage ?? null,
      backfill: null,
    });
  }

  private clearLabelTimers(a: InjectedAnomaly): void {
    for (const t of a.labelTimers ?? []) this.clock.clearTimeout(t);
    a.labelTimers = undefined;
  }

  private forgetFleet(fleetId: string): void {
    for (const [id, a] of this.anomalies) {
      if (a.target.fleetId === fleetId) {
        this.clearLabelTimers(a);
        this.clock.clearTimeout(a.releaseTimer);
        this.anomalies.delete(id);
      }
    }
  }

  /**
   * The anomaly as the API shows it: `full` (GET by id, POST) with every id of
   * target.deviceIds, else (lists) with the first LISTED_DEVICES and `deviceIdsTruncated`.
   */
  private toDto(a: InjectedAnomaly, now: number, full: boolean): AnomalyDto {
    const { target, truncated } = targetOf(a, full ? Infinity : LISTED_DEVICES);
    return {
      id: a.id,
      kind: a.kind,
      sensor: a.sensor,
      magnitude: a.magnitude,
      target,
      ...(truncated ? { deviceIdsTruncated: true } : {}),
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

function sharedOf(a: InjectedAnomaly): SharedAnomaly {
  return {
    kind: a.kind,
    sensor: a.sensor,
    magnitude: a.magnitude,
    target: targetOf(a, Infinity).target,
    startsAt: a.startsAt,
    endsAt: a.endsAt,
    createdAt: a.createdAt,
  };
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

/** An anomaly's target with at most `max` of its device ids (rebuilt from their ordinals). */
function targetOf(a: InjectedAnomaly, max: number): { target: AnomalyTarget; truncated: boolean } {
  const target = copyTarget(a.target);
  const ordinals = a.targetIds;
  if (!ordinals) return { target, truncated: false };
  const n = Math.min(max, ordinals.length);
  const { id: fleetId, layout } = a.fleet;
  const deviceIds = new Array<string>(n);
  for (let i = 0; i < n; i++)
    deviceIds[i] = deviceId(fleetId, locate(layout, ordinals[i]), ordinals[i]);
  return { target: { ...target, deviceIds }, truncated: n < ordinals.length };
}
