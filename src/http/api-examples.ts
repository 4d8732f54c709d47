/**
 * Example bodies of the API's answers, shown in the OpenAPI document and Swagger UI. They are
 * real answers of a running fleetsim; test/e2e/openapi.test.ts checks each against its schema.
 */

export const FLEET_EXAMPLE = {
  id: 'plant-a',
  name: 'Plant A',
  deviceCount: 120,
  intervalMs: 2000,
  sensors: ['temperature', 'pressure'],
  layout: { buildings: 2, floorsPerBuilding: 3, roomsPerFloor: 4 },
  seed: 7,
  targetRate: 60,
  createdAt: '2026-06-01T09:30:00.000Z',
};

export const DEVICE_EXAMPLE = {
  id: 'plant-a.b1.f1.r1.d1',
  fleetId: 'plant-a',
  number: 1,
  location: { building: 1, floor: 1, room: 1 },
  sensors: ['temperature', 'pressure'],
  partition: 2,
  nextSeq: 2,
  lastReading: {
    seq: 1,
    ts: '2026-06-01T09:30:02.012Z',
    sent: true,
    readings: { temperature: 27.64, pressure: 1004.35 },
    anomaly: null,
  },
};

export const DEVICE_PAGE_EXAMPLE = { items: [DEVICE_EXAMPLE], page: 1, limit: 1, total: 120 };

export const ANOMALY_EXAMPLE = {
  id: 'inj-1',
  kind: 'spike',
  sensor: 'temperature',
  magnitude: 40,
  target: { fleetId: 'plant-a', building: 1, floor: 2 },
  deviceCount: 20,
  devices: ['plant-a.b1.f2.r1.d5', 'plant-a.b1.f2.r2.d6', 'plant-a.b1.f2.r3.d7'],
  startsAt: '2026-06-01T09:31:00.000Z',
  endsAt: '2026-06-01T09:32:00.000Z',
  state: 'active',
  createdAt: '2026-06-01T09:31:00.000Z',
};

export const ANOMALY_LIST_EXAMPLE = { items: [ANOMALY_EXAMPLE], random: { active: 0 } };

export const SCENARIO_EXAMPLE = {
  name: 'night-shift',
  description: 'Quiet night, then a compressor fault on the first floor',
  builtIn: false,
  stages: [
    { name: 'quiet', durationMs: 60000, overrides: { dataVariation: 0.2 } },
    {
      name: 'fault',
      durationMs: 120000,
      anomalies: [{ kind: 'spike', sensor: 'temperature', magnitude: 25, floor: 1 }],
    },
  ],
  durationMs: 180000,
  running: false,
};

export const SCENARIO_RUN_EXAMPLE = {
  scenario: 'heat-wave',
  state: 'running',
  stage: 'warming',
  stageIndex: 0,
  stageCount: 4,
  startedAt: '2026-06-01T09:32:00.000Z',
  stageEndsAt: '2026-06-01T09:34:00.000Z',
  endsAt: '2026-06-01T09:40:00.000Z',
  anomalies: ['inj-2'],
};

export const SIMULATION_EXAMPLE = {
  state: 'running',
  fleets: 1,
  devices: 120,
  targetRate: 60,
  behindMs: 0,
  produced: 194,
  acknowledged: 193,
  failed: 0,
  dropped: 0,
  queued: 0,
  scenario: {
    name: 'heat-wave',
    stage: 'warming',
    stageIndex: 0,
    endsAt: '2026-06-01T09:34:00.000Z',
  },
  params: { dataVariation: 1, trendEnabled: true, trendStrength: 0.5, anomalyRate: 0 },
};

export const PRODUCER_EXAMPLE = {
  topic: 'fleetsim.readings',
  partitions: 6,
  connected: true,
  circuit: 'closed',
  bufferedBytes: 544,
  bufferMemory: 33554432,
  backpressure: 'block',
  accepting: true,
  consecutiveRefusals: 0,
  generated: 196,
  acknowledged: 194,
  sent: 0,
  failed: 0,
  dropped: 0,
  droppedByReason: { buffer_full: 0, shutdown: 0, too_large: 0 },
  queued: 1,
  inFlight: 1,
  unknown: 0,
  retried: 0,
  possibleDuplicates: 0,
  batches: 176,
  bytes: 44047,
  balanced: true,
};

export const BACKFILL_EXAMPLE = {
  id: 'bf-1',
  fleetId: 'plant-a',
  from: '2026-03-01T00:00:00.000Z',
  to: '2026-03-02T00:00:00.000Z',
  pace: 'max',
  state: 'running',
  progress: {
    done: 1_296_000,
    total: 5_184_000,
    percent: 25,
    acknowledged: 1_290_000,
    failed: 0,
    ratePerSecond: 180_000,
    etaSeconds: 21.6,
  },
  offsets: [{ topic: 'fleetsim.readings', partition: 0, firstOffset: 0, lastOffset: 215_999 }],
  anomalies: 1,
  scenario: null,
  startedAt: '2026-06-01T09:30:00.000Z',
  finishedAt: null,
};
