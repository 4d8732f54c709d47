import { getHeapStatistics } from 'node:v8';
import { ValidationError } from 'class-validator';
import { DEFAULT_INTERVAL_MS } from './fleet-spec.dto.js';
import type { FleetsimConfig } from './fleetsim.config.js';

/**
 * The rules limitProblems checks, between settings valid on their own: a patch refused by
 * them alone is a limit refusal (422, as for POST /api/v1/fleets), not malformed input (400).
 */
export const LIMIT_RULES: ReadonlySet<string> = new Set([
  'maxProcessMemory',
  'withinGracePeriod',
  'maxBatchSize',
  'maxDevices',
  'maxTargetRate',
]);

/** Time producer.shutdownFlushMs must leave of the grace period for the rest of the shutdown. */
export const SHUTDOWN_MARGIN_MS = 5000;

/**
 * The memory this process may use, in bytes: the V8 heap limit, or the container's memory
 * limit (cgroup) when that is smaller.
 */
export function processMemoryLimit(): number {
  const heap = getHeapStatistics().heap_size_limit;
  const constrained = process.constrainedMemory();
  return constrained > 0 && constrained < heap ? constrained : heap;
}

/** One broken cross-field rule: the dotted path, its value, the rule and a message. */
export interface LimitProblem {
  path: string;
  value: unknown;
  rule: string;
  message: string;
}

/**
 * Rules between settings and the process that class-validator's per-field rules cannot say:
 * bufferMemory against the memory the process may use, shutdownFlushMs against the
 * deployment's grace period, batchSize and the boot fleets against the limits.
 */
export function limitProblems(
  config: FleetsimConfig,
  memoryLimit = processMemoryLimit(),
): LimitProblem[] {
  const { producer, limits, server, simulation } = config;
  const problems: LimitProblem[] = [];
  const maxBuffer = Math.floor(limits.bufferMemoryFraction * memoryLimit);
  if (producer.bufferMemory > maxBuffer) {
    problems.push({
      path: 'producer.bufferMemory',
      value: producer.bufferMemory,
      rule: 'maxProcessMemory',
      message:
        `bufferMemory must not be greater than ${maxBuffer} bytes ` +
        `(limits.bufferMemoryFraction ${limits.bufferMemoryFraction} of the ${memoryLimit} bytes this process may use)`,
    });
  }
  const maxFlush = Math.max(0, server.shutdownGraceMs - SHUTDOWN_MARGIN_MS);
  if (producer.shutdownFlushMs > maxFlush) {
    problems.push({
      path: 'producer.shutdownFlushMs',
      value: producer.shutdownFlushMs,
      rule: 'withinGracePeriod',
      message:
        `shutdownFlushMs must not be greater than ${maxFlush} ` +
        `(server.shutdownGraceMs ${server.shutdownGraceMs} less ${SHUTDOWN_MARGIN_MS} ms for the rest of the shutdown)`,
    });
  }
  if (producer.batchSize > limits.maxBatchSize) {
    problems.push({
      path: 'producer.batchSize',
      value: producer.batchSize,
      rule: 'maxBatchSize',
      message: `batchSize must not be greater than ${limits.maxBatchSize} (limits.maxBatchSize)`,
    });
  }
  const devices = simulation.fleets.reduce((n, f) => n + f.deviceCount, 0);
  const rate = simulation.fleets.reduce(
    (r, f) => r + (f.deviceCount * 1000) / (f.intervalMs ?? DEFAULT_INTERVAL_MS),
    0,
  );
  if (devices > limits.maxDevices) {
    problems.push({
      path: 'simulation.fleets',
      value: devices,
      rule: 'maxDevices',
      message: `fleets must not have more than ${limits.maxDevices} devices in all (limits.maxDevices); they have ${devices}`,
    });
  } else if (rate > limits.maxTargetRate) {
    problems.push({
      path: 'simulation.fleets',
      value: Math.round(rate),
      rule: 'maxTargetRate',
      message: `fleets must not target more than ${limits.maxTargetRate} readings/s in all (limits.maxTargetRate); they target ${Math.round(rate)}`,
    });
  }
  return problems;
}

/** The problems as class-validator errors (section → key), so they are reported like the others. */
export function asValidationErrors(problems: LimitProblem[]): ValidationError[] {
  return problems.map(({ path, value, rule, message }) => {
    const [section, key] = path.split('.');
    const leaf = Object.assign(new ValidationError(), {
      property: key,
      value,
      constraints: { [rule]: message },
      children: [],
    });
    return Object.assign(new ValidationError(), { property: section, children: [leaf] });
  });
}
