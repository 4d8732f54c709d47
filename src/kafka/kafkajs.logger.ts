import type { Logger as NestLogger } from '@nestjs/common';
import kafkajs, { type logCreator } from 'kafkajs';

const { logLevel } = kafkajs;

/**
 * Routes kafkajs's own log lines through the app's logger, one level down: fleetsim retries,
 * counts and reports every failed send itself, so a kafkajs connection error is a warning
 * here, and kafkajs's info lines are debug detail.
 */
export function kafkajsLogCreator(logger: NestLogger): logCreator {
  return () =>
    ({ level, log }) => {
      const { message, timestamp: _t, logger: _l, ...extra } = log;
      const text = `${message}${Object.keys(extra).length ? ` ${JSON.stringify(extra)}` : ''}`;
      switch (level) {
        case logLevel.ERROR:
        case logLevel.WARN:
          logger.warn(text);
          break;
        case logLevel.INFO:
          logger.debug(text);
          break;
        default:
          logger.verbose(text);
      }
    };
}
