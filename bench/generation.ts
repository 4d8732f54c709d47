/**
 * Part 1: readings generated and serialized per second on one core, no Kafka. Runs
 * generateReading + JsonReadingSerializer.serialize over a fleet, cycle after cycle of event
 * time, with trends on and random anomalies at the given rate.
 */
import { deriveLayout } from '../src/model/layout.js';
import { Fleet } from '../src/model/fleet.js';
import { type GenerationParams, generateReading } from '../src/simulation/reading.generator.js';
import { JsonReadingSerializer } from '../src/simulation/reading.serializer.js';
import { SENSOR_NAMES } from '../src/model/sensors/sensor.model.js';

export interface GenerationPhase {
  /** What ran per reading. */
  work: 'generate+serialize' | 'generate' | 'serialize';
  readings: number;
  wallMs: number;
  cpuMs: number;
  /** Readings per wall-clock second. */
  readingsPerSec: number;
  /** Readings per second of CPU time of this process (what one uncontended core would do). */
  readingsPerCpuSec: number;
  /** CPU ns per reading. */
  nsPerReading: number;
}

export interface GenerationResult {
  devices: number;
  intervalMs: number;
  params: GenerationParams;
  /** Mean serialized value size in bytes. */
  avgValueBytes: number;
  /** Share of readings that carried an anomaly label. */
  anomalousShare: number;
  phases: GenerationPhase[];
}

export function runGeneration(
  opts: { devices?: number; seconds?: number; anomalyRate?: number } = {},
): GenerationResult {
  const devices = opts.devices ?? 10_000;
  const seconds = opts.seconds ?? 3;
  const params: GenerationParams = {
    dataVariation: 1,
    trendEnabled: true,
    trendStrength: 0.5,
    anomalyRate: opts.anomalyRate ?? 0.01,
  };
  const fleet = new Fleet({
    id: 'bench-gen',
    name: 'bench-gen',
    deviceCount: devices,
    intervalMs: 1000,
    sensors: [...SENSOR_NAMES],
    layout: deriveLayout(devices),
    seed: 20240607,
  });
  const serializer = new JsonReadingSerializer();
  let ts = Date.UTC(2026, 0, 1);
  let bytes = 0;
  let labelled = 0;
  let produced = 0;

  const cycle = (work: GenerationPhase['work']): number => {
    const list = fleet.devices;
    for (let i = 0; i < list.length; i++) {
      const d = list[i];
      // Each device at its own phase of the interval, like the scheduler does.
      const at = ts + (i * fleet.intervalMs) / list.length;
      if (work === 'serialize') {
        bytes += serializer.serialize(fleet, d, at).length;
        continue;
      }
      const sent = generateReading(fleet, d, at, params);
      if (work === 'generate') continue;
      if (sent) {
        bytes += serializer.serialize(fleet, d, at).length;
        produced++;
        if (d.lastLabel !== null) labelled++;
      }
    }
    ts += fleet.intervalMs;
    return list.length;
  };

  const phase = (work: GenerationPhase['work'], ms: number): GenerationPhase => {
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    let readings = 0;
    while (performance.now() - t0 < ms) readings += cycle(work);
    const wallMs = performance.now() - t0;
    const cpu = process.cpuUsage(cpu0);
    const cpuMs = (cpu.user + cpu.system) / 1000;
    return {
      work,
      readings,
      wallMs,
      cpuMs,
      readingsPerSec: (readings * 1000) / wallMs,
      readingsPerCpuSec: (readings * 1000) / cpuMs,
      nsPerReading: (cpuMs * 1e6) / readings,
    };
  };

  phase('generate+serialize', 1000); // warm-up: JIT, device state
  bytes = labelled = produced = 0;
  const phases = [phase('generate+serialize', seconds * 1000)];
  const avgValueBytes = bytes / produced;
  const anomalousShare = labelled / produced;
  phases.push(phase('generate', (seconds * 1000) / 2));
  phases.push(phase('serialize', (seconds * 1000) / 2));
  return { devices, intervalMs: fleet.intervalMs, params, avgValueBytes, anomalousShare, phases };
}
