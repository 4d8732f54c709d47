import { ConsoleLogger, type LogLevel } from '@nestjs/common';
import type { LogLevelName } from '../config/fleetsim.config.js';
import { currentRequestId } from '../http/request.context.js';

/** Nest log levels printed at each configured level. */
export const LOG_LEVELS: Record<LogLevelName, LogLevel[]> = {
  error: ['fatal', 'error'],
  warn: ['fatal', 'error', 'warn'],
  info: ['fatal', 'error', 'warn', 'log'],
  debug: ['fatal', 'error', 'warn', 'log', 'debug'],
};

/**
 * The one logger of the process: Nest's ConsoleLogger printing one JSON object per line
 * (`json: false` for coloured text), with structured fields at the top level of the object and
 * the request id added to every line written while an HTTP request is handled.
 */
export class FleetsimLogger extends ConsoleLogger {
  constructor(options: { json: boolean; level?: LogLevelName; context?: string }) {
    super(options.context ?? '', {
      json: options.json,
      flattenParams: true,
      logLevels: LOG_LEVELS[options.level ?? 'info'],
    });
  }

  setLevel(level: LogLevelName): void {
    this.setLogLevels(LOG_LEVELS[level]);
  }

  protected override printMessages(
    messages: unknown[],
    context?: string,
    logLevel?: LogLevel,
    writeStreamType?: 'stdout' | 'stderr',
    errorStack?: unknown,
    params?: Record<string, unknown>,
  ): void {
    const requestId = currentRequestId();
    const withId = requestId && !params?.requestId ? { requestId, ...params } : params;
    super.printMessages(messages, context, logLevel, writeStreamType, errorStack, withId);
  }
}
