import type { Logger as NestLogger } from '@nestjs/common';
import kafkajs, { type logCreator } from 'kafkajs';

const { logLevel } = kafkajs;

/** Routes kafkajs's own log lines through the app's logger. */
export function kafkajsLogCreator(logger: NestLogger): logCreator {
  return () =>
    ({ level, log }) => {
      const { message, timestamp: _t, logger: _l, ...extra } = log;
      const text = `${message}${Object.keys(extra).length ? ` ${JSON.stringify(extra)}` : ''}`;
      switch (level) {
        case logLevel.ERROR:
          logger.error(text);
          break;
        case logLevel.WARN:
          logger.warn(text);
          break;
        case logLevel.INFO:
          logger.log(text);
          break;
        default:
          logger.debug(text);
      }
    };
}
