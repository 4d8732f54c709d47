import { currentSensor } from './sensors/current.sensor.js';
import { humiditySensor } from './sensors/humidity.sensor.js';
import { pressureSensor } from './sensors/pressure.sensor.js';
import type { NumericSensorModel, SensorName } from './sensors/sensor.model.js';
import { switchSensor } from './sensors/switch.sensor.js';
import { temperatureSensor } from './sensors/temperature.sensor.js';

export { SENSOR_NAMES, type NumericSensorModel, type SensorName } from './sensors/sensor.model.js';
export { switchSensor };

export type NumericSensorName = Exclude<SensorName, 'switch'>;

/**
 * The numeric sensor models, in the order a device keeps their state (`Device.values` and
 * `Device.deviation`): the one table every index below is derived from.
 */
export const NUMERIC_MODELS: readonly NumericSensorModel[] = [
  temperatureSensor,
  humiditySensor,
  pressureSensor,
  currentSensor,
];

/** Numeric sensor names in NUMERIC_MODELS order. */
export const NUMERIC_SENSORS: readonly NumericSensorName[] = NUMERIC_MODELS.map((m) => m.name);

/** Where each numeric sensor's value sits in `Device.values`. */
export const SENSOR_INDEX = Object.fromEntries(NUMERIC_MODELS.map((m, i) => [m.name, i])) as Record<
  NumericSensorName,
  number
>;
