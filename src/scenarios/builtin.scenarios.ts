import type { ScenarioDefinition } from './scenario.js';

const MINUTE = 60_000;

/**
 * The scenarios every fleetsim knows. Stage anomalies never overlap on one device's readings
 * (a reading carries a single anomaly label, so overlapping ones would blur the ground
 * truth); their places are clamped to each fleet's layout.
 */
export const BUILTIN_SCENARIOS: readonly ScenarioDefinition[] = [
  {
    name: 'normal-day',
    description:
      'A calm working day: day/night and load trends on, moderate noise, a few random anomalies while busy.',
    stages: [
      {
        name: 'quiet',
        durationMs: 5 * MINUTE,
        overrides: { trendEnabled: true, trendStrength: 0.4, dataVariation: 0.4, anomalyRate: 0 },
      },
      {
        name: 'busy',
        durationMs: 10 * MINUTE,
        overrides: {
          trendEnabled: true,
          trendStrength: 0.8,
          dataVariation: 0.7,
          anomalyRate: 0.001,
        },
      },
      {
        name: 'winding-down',
        durationMs: 5 * MINUTE,
        overrides: { trendEnabled: true, trendStrength: 0.5, dataVariation: 0.5, anomalyRate: 0 },
      },
    ],
  },
  {
    name: 'heat-wave',
    description:
      'Temperature of the whole fleet ramps up, stays above the 50 °C alarm at the peak, and eases off again.',
    stages: [
      {
        name: 'warming',
        durationMs: 2 * MINUTE,
        overrides: { trendEnabled: true, trendStrength: 1 },
        anomalies: [{ kind: 'drift', sensor: 'temperature', magnitude: 20 }],
      },
      {
        name: 'peak',
        durationMs: 3 * MINUTE,
        overrides: { trendEnabled: true, trendStrength: 1 },
        anomalies: [{ kind: 'spike', sensor: 'temperature', magnitude: 30 }],
      },
      {
        name: 'cooling',
        durationMs: 2 * MINUTE,
        overrides: { trendEnabled: true, trendStrength: 0.8 },
        anomalies: [{ kind: 'spike', sensor: 'temperature', magnitude: 15 }],
      },
      {
        name: 'easing',
        durationMs: MINUTE,
        overrides: { trendEnabled: true, trendStrength: 0.6 },
        anomalies: [{ kind: 'spike', sensor: 'temperature', magnitude: 5 }],
      },
    ],
  },
  {
    name: 'hvac-failure',
    description:
      'The HVAC of floor 3 in building 1 (or the highest floor there is) fails: its temperature drifts past the alarm, then its sensors freeze.',
    stages: [
      { name: 'normal', durationMs: MINUTE, overrides: {} },
      {
        name: 'cooling-lost',
        durationMs: 3 * MINUTE,
        overrides: {},
        anomalies: [{ kind: 'drift', sensor: 'temperature', magnitude: 30, building: 1, floor: 3 }],
      },
      {
        name: 'sensors-stuck',
        durationMs: 2 * MINUTE,
        overrides: {},
        anomalies: [{ kind: 'stuck', sensor: 'temperature', building: 1, floor: 3 }],
      },
      { name: 'recovered', durationMs: MINUTE, overrides: {} },
    ],
  },
  {
    name: 'power-surge',
    description:
      'A short surge: over-current across the fleet, then flapping switches, then a nervous recovery with more random anomalies.',
    stages: [
      {
        name: 'surge',
        durationMs: 20_000,
        overrides: {},
        anomalies: [{ kind: 'overcurrent', sensor: 'current', magnitude: 7 }],
      },
      {
        name: 'flicker',
        durationMs: 20_000,
        overrides: {},
        anomalies: [{ kind: 'flapping', sensor: 'switch' }],
      },
      { name: 'recovery', durationMs: 30_000, overrides: { anomalyRate: 0.01 } },
    ],
  },
];
