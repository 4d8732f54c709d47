import type { AnomalyKind } from '../model/anomaly.js';
import type { TargetPlace } from '../anomalies/anomaly.target.js';
import type { SensorName } from '../model/sensors/sensor.model.js';
import type { GenerationParams } from '../simulation/reading.generator.js';

/**
 * An anomaly a stage injects into each fleet the scenario runs on, at the stage's start.
 * The place is relative to that fleet and clamped to its layout ("floor 3" in a two-storey
 * building is the top floor); no place means the whole fleet.
 */
export interface StageAnomaly extends TargetPlace {
  kind: AnomalyKind;
  sensor: SensorName;
  magnitude?: number;
  /** Defaults to the stage's duration. */
  durationMs?: number;
}

/** One step of a scenario: generation overrides and anomalies for a while. */
export interface ScenarioStage {
  name: string;
  durationMs: number;
  overrides: Partial<GenerationParams>;
  anomalies?: StageAnomaly[];
}

/** A named, staged plan. */
export interface ScenarioDefinition {
  name: string;
  description?: string;
  stages: ScenarioStage[];
}

/** The whole plan's length. */
export function scenarioDuration(s: ScenarioDefinition): number {
  return s.stages.reduce((ms, stage) => ms + stage.durationMs, 0);
}
