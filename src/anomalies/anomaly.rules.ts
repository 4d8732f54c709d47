import type { FieldProblem } from '../model/domain.error.js';
import { NUMERIC_MODELS } from '../model/sensor.table.js';
import type { NumericSensorModel, SensorName } from '../model/sensors/sensor.model.js';
import { type AnomalyKind, defaultMagnitude, KIND_SENSORS } from '../model/anomaly.js';

/** The magnitudes a kind accepts on a sensor, in the sensor's unit (noise: multiples of sd). */
export interface MagnitudeRange {
  min: number;
  max: number;
  unit: string;
  /** True when `min` itself is excluded (an over-current must add something). */
  minExclusive: boolean;
  /** True when 0 is refused (an offset of 0 changes nothing). */
  nonZero: boolean;
}

const MODELS = new Map<SensorName, NumericSensorModel>(NUMERIC_MODELS.map((m) => [m.name, m]));

/** Noise bursts scale the sensor's spread by 1 … 20. */
export const NOISE_MULTIPLIER = { min: 1, max: 20 } as const;

/**
 * What `magnitude` may be for a kind on a sensor, or null when the kind takes no magnitude
 * (stuck, dropout and flapping have nothing to scale). Spike and drift offsets stay within
 * ± the sensor's full range, so they can push a reading from one end of it to the other.
 */
export function magnitudeRange(kind: AnomalyKind, sensor: SensorName): MagnitudeRange | null {
  const model = MODELS.get(sensor);
  if (!model) return null;
  const span = model.max - model.min;
  switch (kind) {
    case 'spike':
    case 'drift':
      return { min: -span, max: span, unit: model.unit, minExclusive: false, nonZero: true };
    case 'overcurrent':
      return { min: 0, max: span, unit: model.unit, minExclusive: true, nonZero: true };
    case 'noise':
      return { ...NOISE_MULTIPLIER, unit: '× sd', minExclusive: false, nonZero: false };
    case 'stuck':
    case 'dropout':
    case 'flapping':
      return null;
  }
}

/** "a spike", "an overcurrent". */
export const aKind = (kind: AnomalyKind) => `${/^[aeiou]/.test(kind) ? 'an' : 'a'} ${kind}`;

/** Sensors a kind applies to, as a readable list. */
const sensorList = (kind: AnomalyKind) => KIND_SENSORS[kind].join(', ');

/** A problem when `kind` cannot act on `sensor` (e.g. a spike on the switch). */
export function kindSensorProblem(
  kind: AnomalyKind,
  sensor: SensorName,
  field = 'sensor',
): FieldProblem | undefined {
  if (KIND_SENSORS[kind].includes(sensor)) return undefined;
  return {
    field,
    rule: 'validForKind',
    message: `${aKind(kind)} anomaly does not apply to sensor ${sensor}; it applies to ${sensorList(kind)}`,
  };
}

/** A problem when `magnitude` is given to a kind that takes none, or is out of its range. */
export function magnitudeProblem(
  kind: AnomalyKind,
  sensor: SensorName,
  magnitude: number | undefined,
  field = 'magnitude',
): FieldProblem | undefined {
  if (magnitude === undefined) return undefined;
  const range = magnitudeRange(kind, sensor);
  if (!range) {
    return {
      field,
      rule: 'notAllowed',
      message: `${field} is not allowed for ${aKind(kind)} anomaly`,
    };
  }
  const low = range.minExclusive ? magnitude <= range.min : magnitude < range.min;
  if (low || magnitude > range.max || (range.nonZero && magnitude === 0)) {
    const bounds = range.minExclusive
      ? `more than ${range.min} and at most ${range.max}`
      : `between ${range.min} and ${range.max}`;
    const zero = range.nonZero && range.min < 0 ? ', not 0' : '';
    return {
      field,
      rule: 'range',
      message: `${field} of ${aKind(kind)} on ${sensor} must be ${bounds} ${range.unit}${zero}`,
    };
  }
  return undefined;
}

/** The magnitude an anomaly acts with: the one given, else the kind's default (null: none). */
export function effectiveMagnitude(
  kind: AnomalyKind,
  sensor: SensorName,
  magnitude: number | undefined,
): number | null {
  if (!magnitudeRange(kind, sensor)) return null;
  return magnitude ?? defaultMagnitude(kind, sensor);
}
