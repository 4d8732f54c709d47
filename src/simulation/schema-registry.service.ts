import { Injectable, Logger } from '@nestjs/common';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ConfigChange, PreparedChange } from '../config/config.service.js';
import { ConfigService } from '../config/config.service.js';
import type { FleetsimConfig, ValueFormat } from '../config/fleetsim.config.js';
import {
  SchemaRegistryClient,
  SchemaRegistryError,
  type SchemaType,
} from '../kafka/schema-registry.client.js';
import { projectRoot } from '../kafka/project-root.js';
import { DomainError } from '../model/domain.error.js';
import { confluentPrefix } from './confluent.framing.js';
import { fleetTopic } from './reading.pipeline.js';

/** The schema of each value format, as docs/ and proto/ publish it. */
const SCHEMAS: Record<ValueFormat, { type: SchemaType; file: string }> = {
  json: { type: 'JSON', file: join('docs', 'reading.schema.json') },
  protobuf: { type: 'PROTOBUF', file: join('proto', 'reading.proto') },
};

/** The subject of a topic's values (Confluent's TopicNameStrategy). */
export const valueSubject = (topic: string) => `${topic}-value`;

/**
 * kafka.schemaRegistry (docs/schema-registry.md): registers the schema of the value format
 * under `<kafka.topic>-value` at boot, and again before a runtime change of the topic or the
 * format applies (a registry that refuses refuses the change), and hands the pipeline the
 * Confluent wire-format prefix of the schema in force.
 */
@Injectable()
export class SchemaRegistryService {
  private readonly logger = new Logger('SchemaRegistry');
  /** Wire-format prefixes of the registered schemas, by subject and format. */
  private readonly prefixes = new Map<string, Buffer>();
  private booted?: Promise<void>;

  constructor(private readonly config: ConfigService) {
    config.onPrepare((change) => this.prepare(change));
  }

  /** Registers the schema in force at boot (once; later calls share the first). */
  ready(): Promise<void> {
    this.booted ??= this.boot();
    return this.booted;
  }

  /**
   * The wire-format prefix of every value under `config`; undefined when no registry is set.
   * Only asks the cache: the schema was registered at boot or before the change applied.
   */
  framing(config: FleetsimConfig): Buffer | undefined {
    if (!config.kafka.schemaRegistry.url) return undefined;
    const key = cacheKey(config.kafka.topic, config.producer.valueFormat);
    const prefix = this.prefixes.get(key);
    if (!prefix) throw new Error(`no schema registered for ${key}`);
    return prefix;
  }

  private async boot(): Promise<void> {
    const config = this.config.config;
    const { url, startWaitMs } = config.kafka.schemaRegistry;
    if (!url) return;
    const problem = topicProblem(config.kafka.topic);
    if (problem) throw new Error(problem);
    // The registry may be starting along with fleetsim: wait for an answer a while.
    const deadline = Date.now() + startWaitMs;
    for (;;) {
      try {
        await this.register(config.kafka.topic, config.producer.valueFormat, url);
        return;
      } catch (err) {
        // Unreachable: wait for it a while; any answer but success is final.
        if (!(err instanceof SchemaRegistryError) || err.status !== undefined) throw err;
        if (Date.now() >= deadline) throw err;
        await new Promise((r) => setTimeout(r, Math.min(1000, Math.max(0, deadline - Date.now()))));
      }
    }
  }

  private async prepare({ next, changedPaths }: ConfigChange): Promise<PreparedChange | undefined> {
    const { url } = next.kafka.schemaRegistry;
    if (!url) return undefined;
    if (!changedPaths.some((p) => p === 'kafka.topic' || p === 'producer.valueFormat')) {
      return undefined;
    }
    const problem = topicProblem(next.kafka.topic);
    if (problem) {
      throw new DomainError('INVALID_INPUT', `${problem}; nothing was changed`, [
        { field: 'kafka.topic', rule: 'schemaRegistrySubject', message: problem },
      ]);
    }
    try {
      await this.register(next.kafka.topic, next.producer.valueFormat, url);
    } catch (err) {
      throw new DomainError(
        'UNAVAILABLE',
        `could not register the schema for the new settings: ${(err as Error).message}; nothing was changed`,
      );
    }
    // Registered and cached: nothing left to do once the change applies.
    return undefined;
  }

  private async register(topic: string, format: ValueFormat, url: string): Promise<void> {
    const key = cacheKey(topic, format);
    if (this.prefixes.has(key)) return;
    const { type, file } = SCHEMAS[format];
    const schema = readFileSync(join(projectRoot(), file), 'utf8');
    const id = await new SchemaRegistryClient(url).register(valueSubject(topic), type, schema);
    this.prefixes.set(key, confluentPrefix(id, format));
    this.logger.log(
      `${file} registered under ${valueSubject(topic)} as schema id ${id}: values are written in Confluent's wire format`,
    );
  }
}

const cacheKey = (topic: string, format: ValueFormat) => `${valueSubject(topic)} ${format}`;

/** Why a topic cannot take a registered schema, if it cannot. */
function topicProblem(topic: string): string | undefined {
  return fleetTopic(topic, '') === undefined
    ? undefined
    : 'kafka.schemaRegistry needs a plain kafka.topic (the subject is <topic>-value), not a {fleetId} template';
}
