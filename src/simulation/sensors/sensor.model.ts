export const SENSOR_NAMES = ['temperature', 'humidity', 'pressure', 'switch', 'current'] as const;
export type SensorName = (typeof SENSOR_NAMES)[number];

/** What a trend function sees: event time, trend strength 0 … 1, and the fleet seed. */
export interface TrendContext {
  ts: number;
  strength: number;
  seed: number;
}

/** A sensor whose reading is a number drawn around `mean` with spread `sd`. */
export interface NumericSensorModel {
  readonly name: Exclude<SensorName, 'switch'>;
  readonly unit: string;
  readonly mean: number;
  readonly sd: number;
  readonly min: number;
  readonly max: number;
  /** The alarm a detector should raise, e.g. "> 50". */
  readonly alarm: { direction: 'above' | 'below'; threshold: number; label: string };
  /** Share of the variance that comes from the room's environment (0 = none). */
  readonly roomShare: number;
  /** Offset added to the mean at an event time, in the sensor's unit. */
  trend(ctx: TrendContext): number;
}

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

/** Hour of day (UTC, fractional) of an event time. */
export function hourOfDay(ts: number): number {
  return (ts % DAY) / HOUR;
}

/** True from 08:00 to 18:00 UTC, Monday to Friday. */
export function isWorkingHours(ts: number): boolean {
  const day = new Date(ts).getUTCDay();
  const h = hourOfDay(ts);
  return day >= 1 && day <= 5 && h >= 8 && h < 18;
}

/** Smooth 0 … 1 working-hours load: ramps up 07–09, full 09–17, down 17–19 on weekdays. */
export function workingLoad(ts: number): number {
  const day = new Date(ts).getUTCDay();
  if (day === 0 || day === 6) return 0;
  const h = hourOfDay(ts);
  if (h < 7 || h >= 19) return 0;
  if (h < 9) return (h - 7) / 2;
  if (h < 17) return 1;
  return (19 - h) / 2;
}

export const DAY_MS = DAY;
export const HOUR_MS = HOUR;
