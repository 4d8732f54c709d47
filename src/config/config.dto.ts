import { ApiProperty } from '@nestjs/swagger';
import { FleetsimConfig } from './fleetsim.config.js';

const SOURCES = ['default', 'file', 'env', 'api'];

/** The configuration in force. */
export class ConfigViewDto {
  /** 1 at boot; one more with every applied change. */
  version!: number;

  /**
   * The effective configuration: sections server, kafka, producer and simulation, as in the
   * YAML file (docs/operations.md says what can change at runtime and how). Values of keys named like a password, secret, token or SASL
   * setting are shown as "********"; sending that back in a patch leaves them as they are.
   */
  @ApiProperty({
    type: 'object',
    additionalProperties: true,
    example: JSON.parse(JSON.stringify(new FleetsimConfig())) as object,
  })
  config!: FleetsimConfig;

  /** Where each setting in force came from, by dotted path. */
  @ApiProperty({
    type: 'object',
    additionalProperties: { type: 'string', enum: SOURCES },
    example: { 'producer.lingerMs': 'api', 'kafka.brokers': 'env', 'server.port': 'default' },
  })
  sources!: Record<string, string>;

  /**
   * Settings that cannot change while fleetsim runs; a patch changing one is refused with 409.
   * @example ["server.port","server.host","server.bodyLimitBytes","kafka.brokers"]
   */
  immutable!: string[];
}
