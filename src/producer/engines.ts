import type { Logger } from '@nestjs/common';
import type { KafkaClientName } from '../config/fleetsim.config.js';
import type { KafkaSender } from './kafka.sender.js';
import { PlatformaticSender } from './platformatic.sender.js';
import type { BatchSender, SenderOptions } from './sender.js';

/** What an engine may be given beyond the common settings. */
export interface EngineHooks {
  /** Where kafkajs's own log lines go (kafkajs only). */
  logger?: Logger;
  /** Called when the sender's client must be replaced by a fresh sender (kafkajs only). */
  onStale?: (sender: BatchSender, reason: string) => void;
}

/** The modules of the kafkajs engine, once loaded (see loadEngine). */
interface KafkajsEngine {
  sender: typeof import('./kafka.sender.js');
  logger: typeof import('../kafka/kafkajs.logger.js');
}

let kafkajsEngine: KafkajsEngine | undefined;

/**
 * Loads the modules engine `client` needs beyond those every process loads. The kafkajs
 * engine brings kafkajs and the native snappy, LZ4 and zstd codecs it compresses with
 * (compression.codecs.ts): ~20 MB of resident memory, loaded only by a process that uses it
 * (at start with kafka.client=kafkajs, or when a configuration change switches to it).
 * @platformatic/kafka, the default engine, is always loaded. Await it before `createSender`.
 */
export async function loadEngine(client: KafkaClientName): Promise<void> {
  if (client !== 'kafkajs' || kafkajsEngine) return;
  const [sender, logger] = await Promise.all([
    import('./kafka.sender.js'),
    import('../kafka/kafkajs.logger.js'),
  ]);
  kafkajsEngine ??= { sender, logger };
}

/**
 * A sender of the named engine: `platformatic` (@platformatic/kafka) or `kafkajs` (loaded
 * first with `loadEngine`). Throws when the engine cannot compress with the configured codec.
 */
export function createSender(
  client: KafkaClientName,
  options: SenderOptions,
  hooks: EngineHooks = {},
): BatchSender {
  if (client === 'kafkajs') {
    if (!kafkajsEngine) {
      throw new Error('the kafkajs engine is not loaded: await loadEngine("kafkajs") first');
    }
    const { sender: engine, logger } = kafkajsEngine;
    const sender: KafkaSender = new engine.KafkaSender({
      ...options,
      logCreator: hooks.logger && logger.kafkajsLogCreator(hooks.logger),
      onStale: hooks.onStale && ((reason) => hooks.onStale!(sender, reason)),
    });
    return sender;
  }
  return new PlatformaticSender(options);
}
