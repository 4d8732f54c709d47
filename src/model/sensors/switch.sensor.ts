import { workingLoad } from './sensor.model.js';

/**
 * An on/off switch: a two-state Markov chain whose long-run share of ON is `pOn` (0.8), with
 * persistence (it stays in a state for several readings instead of flipping a coin each time).
 * With trends on, ON is more likely in working hours and less likely at night.
 */
export const switchSensor = {
  name: 'switch' as const,
  unit: 'on/off',
  pOn: 0.8,
  /** Chance per reading of leaving the ON state; leaving OFF follows from pOn. */
  leaveOn: 0.05,
  alarm: { label: 'flapping' },
  /** Long-run share of ON at an event time. */
  targetOn(ts: number, trendEnabled: boolean, strength: number): number {
    if (!trendEnabled) return this.pOn;
    const load = workingLoad(ts);
    return Math.min(0.97, Math.max(0.05, this.pOn + strength * (0.3 * load - 0.25 * (1 - load))));
  },
};
