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

/**
 * Day of the week (0 = Sunday … 6 = Saturday, UTC) of an event time: what
 * `new Date(ts).getUTCDay()` says, without building a Date for every reading.
 */
export function utcDayOfWeek(ts: number): number {
  const t = Math.trunc(ts); // what new Date(ts) keeps of a fractional time
  if (!(Math.abs(t) <= 8.64e15)) return NaN; // an invalid Date
  // 1970-01-01 was a Thursday; the outer modulo keeps days before it in 0 … 6.
  return (((Math.floor(t / DAY) + 4) % 7) + 7) % 7;
}

/** Smooth 0 … 1 working-hours load: ramps up 07–09, full 09–17, down 17–19 on weekdays. */
export function workingLoad(ts: number): number {
  const day = utcDayOfWeek(ts);
  if (day === 0 || day === 6) return 0;
  const h = hourOfDay(ts);
  if (h < 7 || h >= 19) return 0;
  if (h < 9) return (h - 7) / 2;
  if (h < 17) return 1;
  return (19 - h) / 2;
}

export const DAY_MS = DAY;
export const HOUR_MS = HOUR;
