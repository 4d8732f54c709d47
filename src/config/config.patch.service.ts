import { Injectable, Logger } from '@nestjs/common';
import { FleetsimMetrics } from '../metrics/fleetsim.metrics.js';
import { DomainError } from '../model/domain.error.js';
import { fieldProblems } from '../model/field.problems.js';
import { type ConfigSource, validateConfig } from './config.loader.js';
import {
  changedPaths,
  immutableSetting,
  maskSecrets,
  shownValue,
  withoutMaskedSecrets,
} from './config.patch.js';
import { ConfigService } from './config.service.js';
import type { FleetsimConfig } from './fleetsim.config.js';
import { applyMergePatch, getPath, isPlain, leafPaths, type Plain } from './plain.js';

/** The configuration in force as the REST API shows it. */
export interface ConfigView {
  version: number;
  config: FleetsimConfig;
  sources: Record<string, ConfigSource>;
  immutable: string[];
}

/** One applied change of a setting, as logged (secrets masked; undefined when unset). */
export interface SettingChange {
  path: string;
  from: unknown;
  to: unknown;
}

const toPlain = (config: FleetsimConfig): Plain => JSON.parse(JSON.stringify(config)) as Plain;

/**
 * Changes the configuration at runtime from a JSON merge patch: merge onto what is in force,
 * validate the result as a whole, refuse boot-only settings, then apply all or nothing
 * (ConfigService.update). Changes run one at a time; each is logged and counted.
 */
@Injectable()
export class ConfigPatchService {
  private readonly logger = new Logger('Config');
  private tail: Promise<unknown> = Promise.resolve();
  /**
   * Cluster mode: shares a validated patch with every process (through the control topic) and
   * resolves once this process has applied it; set by the cluster service.
   */
  share?: (patch: Plain) => Promise<void>;

  constructor(
    private readonly config: ConfigService,
    private readonly metrics: FleetsimMetrics,
  ) {}

  /** Version, effective settings (secrets masked), their sources and the boot-only ones. */
  view(): ConfigView {
    const plain = toPlain(this.config.config);
    const paths = leafPaths(plain).sort();
    return {
      version: this.config.version,
      config: maskSecrets(plain) as unknown as FleetsimConfig,
      sources: Object.fromEntries(
        paths.map((p) => [p, this.config.sources.get(p) ?? 'default'] as const),
      ),
      immutable: paths.filter((p) => immutableSetting(p)),
    };
  }

  /**
   * Applies a JSON merge patch; resolves with the new view, or rejects with a DomainError
   * (or an unexpected error), which the caller reports with `refused`.
   */
  patch(patch: unknown): Promise<ConfigView> {
    if (this.share) return this.patchShared(patch);
    const run = this.tail.then(() => this.applyPatch(patch));
    this.tail = run.catch(() => {});
    return run;
  }

  /**
   * Counts and logs a change `patch` refused; `status` is what the caller answers with (the
   * HTTP edge maps errors to statuses), below 500 for a rejected change, else a failed one.
   */
  refused(err: unknown, status: number): void {
    this.metrics.configChanges.inc({ result: status < 500 ? 'rejected' : 'failed' });
    const detail = (err as Error).message;
    this.logger.warn(`configuration change refused (${status}): ${detail}`, {
      status,
      errors: err instanceof DomainError ? err.errors : undefined,
    });
  }

  /** Applies a patch that came through the control topic (cluster mode), in turn. */
  applyShared(patch: unknown): Promise<ConfigView> {
    const run = this.tail.then(() => this.applyPatch(patch));
    this.tail = run.catch(() => {});
    return run;
  }

  /**
   * Cluster mode: validates here first (a bad patch is refused at once and nothing is
   * shared), then shares it and resolves once this process has applied it.
   */
  private async patchShared(patch: unknown): Promise<ConfigView> {
    await this.tail;
    await this.applyPatch(patch, true);
    await this.share!(patch as Plain);
    return this.view();
  }

  private async applyPatch(patch: unknown, dryRun = false): Promise<ConfigView> {
    if (!isPlain(patch)) {
      throw new DomainError(
        'INVALID_INPUT',
        'the body must be a JSON merge patch of the configuration: a JSON object such as {"producer":{"lingerMs":20}}',
        [{ field: '', rule: 'isObject', message: 'the body must be a JSON object' }],
      );
    }
    const previous = toPlain(this.config.config);
    const merged = applyMergePatch(previous, withoutMaskedSecrets(patch)) as Plain;
    const { config: next, errors } = validateConfig(merged);
    if (errors.length) {
      const problems = fieldProblems(errors);
      throw new DomainError(
        'INVALID_INPUT',
        `the configuration would be invalid, nothing was changed: ${problems.map((p) => p.message).join('; ')}`,
        problems,
      );
    }
    const changed = changedPaths(previous, toPlain(next));
    const refused = changed.flatMap((field) => {
      const rule = immutableSetting(field);
      return rule
        ? [
            {
              field,
              rule: 'immutable',
              message: `${field} cannot change at runtime: ${rule.reason}`,
            },
          ]
        : [];
    });
    if (refused.length) {
      throw new DomainError(
        'CONFLICT',
        `nothing was changed: ${refused.map((r) => r.message).join('; ')}`,
        refused,
      );
    }
    if (!changed.length || dryRun) return this.view();

    const changes: SettingChange[] = changed.map((path) => ({
      path,
      from: shownValue(path, getPath(previous, path)),
      to: shownValue(path, getPath(next, path)),
    }));
    const text = (v: unknown) => (v === undefined ? 'unset' : JSON.stringify(v));
    await this.config.update(next, changed, 'api');
    this.metrics.configChanges.inc({ result: 'applied' });
    this.logger.log(
      `configuration version ${this.config.version}: ${changes.map((c) => `${c.path} ${text(c.from)} → ${text(c.to)}`).join(', ')}`,
      { version: this.config.version, changes },
    );
    return this.view();
  }
}
