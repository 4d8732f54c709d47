import { smoothNoise } from '../random.js';
import { HOUR_MS, type NumericSensorModel } from './sensor.model.js';

/** Weather: a slow random walk shared by the whole site (±15 hPa at full strength). */
export const pressureSensor: NumericSensorModel = {
  name: 'pressure',
  unit: 'hPa',
  mean: 1013,
  sd: 20,
  min: 950,
  max: 1050,
  alarm: { direction: 'above', threshold: 1040, label: 'pressure anomaly' },
  roomShare: 0,
  trend: ({ ts, strength, seed }) =>
    strength *
    (10 * smoothNoise(seed, 0x7e5, ts, 12 * HOUR_MS) +
      5 * smoothNoise(seed, 0x7e6, ts, 3 * HOUR_MS)),
};
