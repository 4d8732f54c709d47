import { DAY_MS, hourOfDay, type NumericSensorModel } from './sensor.model.js';

const YEAR_MS = 365.25 * DAY_MS;

/**
 * Seasonal drift (wettest in mid-winter of the northern hemisphere, ±12 % at full strength)
 * plus the daily counter-cycle of the temperature: air is drier when it is warmer.
 */
export const humiditySensor: NumericSensorModel = {
  name: 'humidity',
  unit: '%',
  mean: 60,
  sd: 10,
  min: 0,
  max: 100,
  alarm: { direction: 'below', threshold: 20, label: 'abnormally dry' },
  roomShare: 0.6,
  trend: ({ ts, strength }) =>
    12 * strength * Math.cos((2 * Math.PI * (ts % YEAR_MS)) / YEAR_MS) -
    5 * strength * Math.cos((2 * Math.PI * (hourOfDay(ts) - 15)) / 24),
};
