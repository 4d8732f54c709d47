import { EventEmitter } from 'node:events';
import { Injectable } from '@nestjs/common';
import type { ConfigSource, LoadedConfig } from './config.loader.js';
import type { FleetsimConfig } from './fleetsim.config.js';

export interface ConfigUpdatedEvent {
  previous: FleetsimConfig;
  current: FleetsimConfig;
}

/**
 * Holds the configuration in force. Parts that care about runtime changes subscribe to
 * `config.updated`; everything else reads `config` when it needs a value.
 */
@Injectable()
export class ConfigService {
  private readonly events = new EventEmitter();
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

  onUpdated(listener: (event: ConfigUpdatedEvent) => void): () => void {
    this.events.on('config.updated', listener);
    return () => this.events.off('config.updated', listener);
  }
}
