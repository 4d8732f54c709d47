import { hourOfDay, type NumericSensorModel } from './sensor.model.js';

/** Day/night cycle: coolest at 03:00, warmest at 15:00 (UTC), ±8 °C at full strength. */
export const temperatureSensor: NumericSensorModel = {
  name: 'temperature',
  unit: '°C',
  mean: 25,
  sd: 5,
  min: -10,
  max: 60,
  alarm: { direction: 'above', threshold: 50, label: 'high-temperature alarm' },
  roomShare: 0.6,
  trend: ({ ts, strength }) => 8 * strength * Math.cos((2 * Math.PI * (hourOfDay(ts) - 15)) / 24),
};
