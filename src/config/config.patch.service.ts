import { HttpException, HttpStatus, Injectable, Logger } from '@nestjs/common';
import { fieldProblems, type FieldProblem, ProblemException } from '../http/problem.js';
import { classSchema, type JsonSchema } from '../http/validation.schema.js';
import { FleetsimMetrics } from '../metrics/fleetsim.metrics.js';
import { type ConfigSource, getPath, leafPaths, validateConfig } from './config.loader.js';
import {
  applyMergePatch,
  changedPaths,
  immutableSetting,
  maskSecrets,
  shownValue,
  withoutMaskedSecrets,
} from './config.patch.js';
import { ConfigService } from './config.service.js';
import { FleetsimConfig } from './fleetsim.config.js';

type Plain = Record<string, unknown>;

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

const isPlain = (v: unknown): v is Plain =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Changes the configuration at runtime from a JSON merge patch: merge onto what is in force,
 * validate the result as a whole, refuse boot-only settings, then apply all or nothing
 * (ConfigService.update). Changes run one at a time; each is logged and counted.
 */
@Injectable()
export class ConfigPatchService {
  private readonly logger = new Logger('Config');
  private tail: Promise<unknown> = Promise.resolve();

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

  /** Applies a JSON merge patch; resolves with the new view, or throws a problem. */
  patch(patch: unknown): Promise<ConfigView> {
    const run = this.tail.then(() => this.patchNow(patch));
    this.tail = run.catch(() => {});
    return run;
  }

  private async patchNow(patch: unknown): Promise<ConfigView> {
    try {
      const view = await this.applyPatch(patch);
      return view;
    } catch (err) {
      const status = err instanceof HttpException ? err.getStatus() : 500;
      this.metrics.configChanges.inc({ result: status < 500 ? 'rejected' : 'failed' });
      const response = err instanceof HttpException ? err.getResponse() : undefined;
      const detail =
        (response as { detail?: string } | undefined)?.detail ?? (err as Error).message;
      this.logger.warn(`configuration change refused (${status}): ${detail}`, {
        status,
        errors: (response as { errors?: FieldProblem[] } | undefined)?.errors,
      });
      throw err;
    }
  }

  private async applyPatch(patch: unknown): Promise<ConfigView> {
    if (!isPlain(patch)) {
      throw new ProblemException(
        HttpStatus.BAD_REQUEST,
        'the body must be a JSON merge patch of the configuration: a JSON object such as {"producer":{"lingerMs":20}}',
        { errors: [{ field: '', rule: 'isObject', message: 'the body must be a JSON object' }] },
      );
    }
    // Unknown keys are refused by validation below, except a null one, which a merge patch
    // reads as "delete it" and so would let pass as a no-op ({"x": null}): refused here.
    const unknown = unknownNullKeys(patch, PATCH_SCHEMA);
    if (unknown.length) {
      const problems = unknown.map((field) => ({
        field,
        rule: 'unknown',
        message: `${field} is not a known field`,
      }));
      throw new ProblemException(
        HttpStatus.BAD_REQUEST,
        `nothing was changed: ${problems.map((p) => p.message).join('; ')}`,
        { errors: problems },
      );
    }
    const previous = toPlain(this.config.config);
    const merged = applyMergePatch(previous, withoutMaskedSecrets(patch)) as Plain;
    const { config: next, errors } = validateConfig(merged);
    if (errors.length) {
      const problems = fieldProblems(errors);
      throw new ProblemException(
        HttpStatus.BAD_REQUEST,
        `the configuration would be invalid, nothing was changed: ${problems.map((p) => p.message).join('; ')}`,
        { errors: problems },
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
      throw new ProblemException(
        HttpStatus.CONFLICT,
        `nothing was changed: ${refused.map((r) => r.message).join('; ')}`,
        { errors: refused },
      );
    }
    if (!changed.length) return this.view();

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

/** The shape a patch may have: the configuration's, every key optional (as in OpenAPI). */
const PATCH_SCHEMA = classSchema(FleetsimConfig, { mergePatch: true });

/** Dotted paths of the null keys in `patch` that the schema does not know, at any depth. */
function unknownNullKeys(patch: Plain, schema: JsonSchema, prefix = ''): string[] {
  const properties = schema.properties as Record<string, JsonSchema> | undefined;
  if (!properties) return [];
  return Object.keys(patch).flatMap((key) => {
    const path = `${prefix}${key}`;
    const sub = Object.hasOwn(properties, key) ? properties[key] : undefined;
    const value = patch[key];
    if (!sub) return value === null ? [path] : [];
    return isPlain(value) ? unknownNullKeys(value, sub, `${path}.`) : [];
  });
}
