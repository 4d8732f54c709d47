import type { KafkaClientName } from '../config/fleetsim.config.js';
import { KafkaSender, type KafkaSenderOptions } from './kafka.sender.js';
import { PlatformaticSender } from './platformatic.sender.js';
import type { BatchSender, SenderOptions } from './sender.js';

/** What an engine may be given beyond the common settings. */
export interface EngineHooks {
  /** kafkajs's log lines. */
  logCreator?: KafkaSenderOptions['logCreator'];
  /** Called when the sender's client must be replaced by a fresh sender (kafkajs only). */
  onStale?: (sender: BatchSender, reason: string) => void;
}

/**
 * A sender of the named engine: `platformatic` (@platformatic/kafka) or `kafkajs`. Throws
 * when the engine cannot compress with the configured codec.
 */
export function createSender(
  client: KafkaClientName,
  options: SenderOptions,
  hooks: EngineHooks = {},
): BatchSender {
  if (client === 'kafkajs') {
    const sender: KafkaSender = new KafkaSender({
      ...options,
      logCreator: hooks.logCreator,
      onStale: hooks.onStale && ((reason) => hooks.onStale!(sender, reason)),
    });
    return sender;
  }
  return new PlatformaticSender(options);
}
