import { EventEmitter } from 'node:events';
import { Injectable } from '@nestjs/common';
import type { ConfigSource, LoadedConfig } from './config.loader.js';
import type { FleetsimConfig } from './fleetsim.config.js';

export interface ConfigUpdatedEvent {
  previous: FleetsimConfig;
  current: FleetsimConfig;
}

/** A validated change about to be applied. */
export interface ConfigChange {
  previous: FleetsimConfig;
  next: FleetsimConfig;
  /** Leaf paths whose values differ. */
  changedPaths: string[];
}

/** What a part set up for a change: kept once the change is applied, undone if it is not. */
export interface PreparedChange {
  commit(): Promise<void>;
  abort(): Promise<void>;
}

/**
 * Sets up what a change needs before it is applied (e.g. a Kafka client with new settings),
 * or throws to refuse it. Returns nothing when the change does not concern it.
 */
export type ChangePreparer = (change: ConfigChange) => Promise<PreparedChange | undefined>;

/**
 * Holds the configuration in force. Parts that care about runtime changes subscribe to
 * `config.updated`; everything else reads `config` when it needs a value.
 */
@Injectable()
export class ConfigService {
  private readonly events = new EventEmitter();
  private readonly preparers: ChangePreparer[] = [];
  private current: FleetsimConfig;
  readonly sources: Map<string, ConfigSource>;
  readonly file?: string;
  version = 1;

  constructor(loaded: LoadedConfig) {
    this.current = loaded.config;
    this.sources = loaded.sources;
    this.file = loaded.file;
  }

  get config(): FleetsimConfig {
    return this.current;
  }

  /** Swaps in an already validated configuration and tells the subscribers. */
  apply(next: FleetsimConfig, changedPaths: string[], source: ConfigSource): ConfigUpdatedEvent {
    const event = { previous: this.current, current: next };
    this.current = next;
    for (const path of changedPaths) this.sources.set(path, source);
    this.version += 1;
    this.events.emit('config.updated', event);
    return event;
  }

  /**
   * Applies a validated configuration all or nothing: every preparer sets up its part first
   * (if one throws, the others' parts are undone and nothing changes), then the config is
   * swapped and `config.updated` emitted, then the prepared parts are committed.
   */
  async update(
    next: FleetsimConfig,
    changedPaths: string[],
    source: ConfigSource,
  ): Promise<ConfigUpdatedEvent> {
    const change: ConfigChange = { previous: this.current, next, changedPaths };
    const prepared: PreparedChange[] = [];
    try {
      for (const prepare of this.preparers) {
        const part = await prepare(change);
        if (part) prepared.push(part);
      }
    } catch (err) {
      await Promise.all(prepared.map((p) => p.abort().catch(() => {})));
      throw err;
    }
    const event = this.apply(next, changedPaths, source);
    for (const part of prepared) await part.commit();
    return event;
  }

  /** Registers a part that must set something up before a change applies. */
  onPrepare(preparer: ChangePreparer): () => void {
    this.preparers.push(preparer);
    return () => {
      const i = this.preparers.indexOf(preparer);
      if (i >= 0) this.preparers.splice(i, 1);
    };
  }

  onUpdated(listener: (event: ConfigUpdatedEvent) => void): () => void {
    this.events.on('config.updated', listener);
    return () => this.events.off('config.updated', listener);
  }
}
