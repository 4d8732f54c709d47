export class GenerationParamsDto {
  /** Noise scale, 0 … 1. */
  dataVariation!: number;
  trendEnabled!: boolean;
  /** 0 … 1. */
  trendStrength!: number;
  /** Share of readings that are random anomalies, 0 … 0.1. */
  anomalyRate!: number;
}

export class ScenarioStatusDto {
  name!: string;
  stage!: string;
  /** 0-based index of the stage. */
  stageIndex!: number;
  /** The fleet the scenario runs on; all fleets when absent. */
  fleetId?: string;
  /** When the current stage ends (ISO-8601). */
  endsAt!: string;
}

export class ClusterMemberDto {
  /** The member's id (host, pid and a random suffix). */
  member!: string;
  /** Readings partitions it produces. */
  partitions!: number[];
  /** Readings per second its partitions are scheduled to emit. */
  rate!: number;
  /** When it last reported (epoch ms). */
  at!: number;
}

export class ClusterStatusDto {
  /** cluster.name */
  name!: string;
  /** The member that answered. */
  member!: string;
  /** Partitions of the readings topic, shared out among the members. */
  partitions!: number;
  members!: ClusterMemberDto[];
}

export class SimulationStatusDto {
  state!: 'running' | 'stopped';
  fleets!: number;
  devices!: number;
  /** Messages per second the fleets are scheduled to emit. */
  targetRate!: number;
  /** How late the most overdue reading is, in ms. */
  behindMs!: number;
  /** Readings handed to the producer. */
  produced!: number;
  acknowledged!: number;
  failed!: number;
  dropped!: number;
  queued!: number;
  scenario!: ScenarioStatusDto | null;
  /** Generation settings in force (before scenario overrides). */
  params!: GenerationParamsDto;
  /** Only in cluster mode (cluster.enabled): the members, their partitions and rates. */
  cluster?: ClusterStatusDto;
}
