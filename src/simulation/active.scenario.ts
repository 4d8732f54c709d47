import { Injectable } from '@nestjs/common';

/** The running scenario and stage, as GET /api/v1/simulation and /metrics show it. */
export interface ScenarioStatus {
  name: string;
  stage: string;
  stageIndex: number;
  fleetId?: string;
  endsAt: string;
}

/**
 * Which scenario runs now: the scenario service sets it at every stage change and at the
 * end; the simulation reads it for its status and metrics.
 */
@Injectable()
export class ActiveScenario {
  private current: ScenarioStatus | null = null;

  status(): ScenarioStatus | null {
    return this.current;
  }

  set(status: ScenarioStatus | null): void {
    this.current = status;
  }
}
