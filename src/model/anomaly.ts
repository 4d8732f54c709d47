import type { SensorName } from './sensors/sensor.model.js';

export const ANOMALY_KINDS = [
  'spike',
  'drift',
  'stuck',
  'dropout',
  'noise',
  'flapping',
  'overcurrent',
] as const;
export type AnomalyKind = (typeof ANOMALY_KINDS)[number];

/** Which sensors each kind can act on. */
export const KIND_SENSORS: Record<AnomalyKind, readonly SensorName[]> = {
  spike: ['temperature', 'humidity', 'pressure', 'current'],
  drift: ['temperature', 'humidity', 'pressure', 'current'],
  stuck: ['temperature', 'humidity', 'pressure', 'current', 'switch'],
  dropout: ['temperature', 'humidity', 'pressure', 'current', 'switch'],
  noise: ['temperature', 'humidity', 'pressure', 'current'],
  flapping: ['switch'],
  overcurrent: ['current'],
};

/**
 * Default magnitude per kind and sensor, in the sensor's unit (spike, drift, overcurrent: an
 * offset that crosses the sensor's alarm threshold from its mean; noise: a multiple of sd).
 */
export const DEFAULT_MAGNITUDE: Record<string, number> = {
  'spike:temperature': 30,
  'spike:humidity': -45,
  'spike:pressure': 35,
  'spike:current': 7,
  'drift:temperature': 30,
  'drift:humidity': -45,
  'drift:pressure': 35,
  'drift:current': 7,
  'overcurrent:current': 7,
  'noise:temperature': 4,
  'noise:humidity': 4,
  'noise:pressure': 4,
  'noise:current': 4,
};

export function defaultMagnitude(kind: AnomalyKind, sensor: SensorName): number {
  return DEFAULT_MAGNITUDE[`${kind}:${sensor}`] ?? 0;
}

/** One anomaly acting on a device between `startsAt` and `endsAt` (event time, ms). */
export interface AnomalyEffect {
  id: string;
  kind: AnomalyKind;
  sensor: SensorName;
  magnitude: number;
  startsAt: number;
  endsAt: number;
  /** The value held by a stuck sensor, taken at the first reading it shapes. */
  stuckValue?: number;
}

/** What a reading says about the anomaly that shaped it. */
export interface AnomalyLabel {
  id: string;
  kind: AnomalyKind;
  sensor: SensorName;
}
