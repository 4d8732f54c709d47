import { type NumericSensorModel, workingLoad } from './sensor.model.js';

/** Load trend: machines draw up to 1.5 A more during working hours at full strength. */
export const currentSensor: NumericSensorModel = {
  name: 'current',
  unit: 'A',
  mean: 2.5,
  sd: 0.5,
  min: 0,
  max: 10,
  alarm: { direction: 'above', threshold: 8, label: 'over-current' },
  roomShare: 0,
  trend: ({ ts, strength }) => 1.5 * strength * (workingLoad(ts) - 0.3),
};
