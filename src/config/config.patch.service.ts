import { randomUUID } from 'node:crypto';
import { Injectable, Logger } from '@nestjs/common';
import { FleetsimMetrics } from '../metrics/fleetsim.metrics.js';
import { DomainError, type FieldProblem } from '../model/domain.error.js';
import { checkIfMatch } from '../model/etag.js';
import { LIMIT_RULES } from './config.limits.js';
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

/** Cluster mode: how a runtime change reaches every process (the cluster service provides it). */
export interface SharedConfig {
  /** Tells this cluster's versions from another's (ETag `"<name>-<version>"`). */
  readonly name: string;
  /** Shares a validated patch with every process; resolves once this process has applied it. */
  write(patch: Plain): Promise<void>;
  /** Resolves once every change shared so far is applied here. */
  sync(): Promise<void>;
  /**
   * The version of the shared runtime changes, the same in every process that has applied
   * them (the position of their record in the control topic; 0: none yet).
   */
  version(): number;
}

/** Rules between settings, which the schema of a patch cannot state. */
const BETWEEN_SETTINGS: ReadonlySet<string> = new Set([
  ...LIMIT_RULES,
  'enabledWithMaterial',
  'schemaRegistrySubject',
]);

/**
 * True when a problem lies in a value the patch itself gives (not null, which resets to the
 * default) and breaks a rule of that value alone: the patch fails its schema. A value the
 * patch leaves as it was, or a rule between settings, makes it a problem of the result.
 */
function brokenByPatch(problem: FieldProblem, patch: Plain): boolean {
  if (BETWEEN_SETTINGS.has(problem.rule)) return false;
  let value: unknown = patch;
  for (const key of problem.field.split('.')) {
    // Arrays and values are replaced whole: a problem inside one is the patch's.
    if (!isPlain(value)) return true;
    value = value[key];
    if (value === undefined || value === null) return false;
  }
  return true;
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
  /** Tells this process's versions from another's, so an ETag from before a restart is stale. */
  private readonly boot = randomUUID().slice(0, 8);
  /** Cluster mode: shared patches of this process, one at a time (each composes the last). */
  private sharedTail: Promise<unknown> = Promise.resolve();
  /** Cluster mode: how changes reach every process; set by the cluster service. */
  shared?: SharedConfig;

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
   * The entity tag of the configuration in force (ETag, If-Match): this boot and the version.
   * In cluster mode, the cluster and the version of the runtime changes every process shares,
   * so every process that has applied them answers the same tag (`version` in the view may
   * differ between processes: one that joins late applies all earlier changes at once).
   */
  etag(version = this.config.version): string {
    if (this.shared) return `"${this.shared.name}-${this.shared.version()}"`;
    return `"${this.boot}-${version}"`;
  }

  private checkIfMatch(ifMatch: string | undefined): void {
    checkIfMatch(
      ifMatch,
      this.etag(),
      this.config.config.server.requireIfMatch,
      'the configuration',
    );
  }

  /**
   * Applies a JSON merge patch; resolves with the new view, or rejects with a DomainError
   * (or an unexpected error), which the caller reports with `refused`. With `ifMatch`, only
   * when the configuration is still the version it names (STALE_VERSION otherwise).
   */
  patch(patch: unknown, ifMatch?: string): Promise<ConfigView> {
    if (this.shared) {
      const shared = this.sharedTail.then(() => this.patchShared(this.shared!, patch, ifMatch));
      this.sharedTail = shared.catch(() => {});
      return shared;
    }
    const run = this.tail.then(async () => {
      // A patch that is invalid in itself is refused as such, whatever version it names.
      await this.applyPatch(patch, true);
      this.checkIfMatch(ifMatch);
      return this.applyPatch(patch);
    });
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
   * Cluster mode: catches up with the changes made through other processes, checks If-Match
   * against them, validates here (a bad patch is refused at once and nothing is shared), then
   * shares it and resolves once this process has applied it. Between processes, two changes
   * with the same If-Match sent at the same moment can both pass (docs/scale-out.md).
   */
  private async patchShared(
    shared: SharedConfig,
    patch: unknown,
    ifMatch: string | undefined,
  ): Promise<ConfigView> {
    await shared.sync();
    await this.tail;
    await this.applyPatch(patch, true);
    this.checkIfMatch(ifMatch);
    await shared.write(patch as Plain);
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
      // 400 only for a patch invalid in itself, as its schema in the OpenAPI document says. A
      // patch whose every value is valid may still leave a configuration that breaks a rule
      // between settings (a global limit, kafka.tls.enabled with a CA, a SASL mechanism
      // without its user): 422, as POST /api/v1/fleets answers past a limit.
      const invalidInItself = problems.some((p) => brokenByPatch(p, patch));
      throw new DomainError(
        invalidInItself
          ? 'INVALID_INPUT'
          : problems.every((p) => LIMIT_RULES.has(p.rule))
            ? 'LIMIT_EXCEEDED'
            : 'INVALID_PLAN',
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
