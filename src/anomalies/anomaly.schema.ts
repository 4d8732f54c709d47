import { ANOMALY_KINDS, KIND_SENSORS } from '../model/anomaly.js';
import { magnitudeRange } from './anomaly.rules.js';

/**
 * The kind × sensor × magnitude rules of anomaly.rules.ts as JSON Schema, one `anyOf`
 * branch per sensor a kind applies to, with the magnitudes it takes there (none for stuck,
 * dropout and flapping). Request schemas that carry kind, sensor and magnitude add it, so that
 * the OpenAPI document refuses what the server refuses.
 */
export function kindSensorBranches(): Array<Record<string, unknown>> {
  return ANOMALY_KINDS.flatMap((kind) =>
    KIND_SENSORS[kind].map((sensor) => {
      const range = magnitudeRange(kind, sensor);
      const magnitude = range
        ? {
            type: 'number',
            nullable: true,
            minimum: range.min,
            maximum: range.max,
            ...(range.minExclusive ? { exclusiveMinimum: true } : {}),
            ...(range.nonZero ? { not: { enum: [0] } } : {}),
          }
        : { nullable: true, enum: [null] };
      return {
        properties: { kind: { enum: [kind] }, sensor: { enum: [sensor] }, magnitude },
      };
    }),
  );
}
