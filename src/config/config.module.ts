import { type DynamicModule, Global, Module } from '@nestjs/common';
import { ConfigController } from './config.controller.js';
import type { LoadedConfig } from './config.loader.js';
import { ConfigPatchService } from './config.patch.service.js';
import { ConfigService } from './config.service.js';

@Global()
@Module({})
export class ConfigModule {
  static forRoot(loaded: LoadedConfig): DynamicModule {
    return {
      module: ConfigModule,
      controllers: [ConfigController],
      providers: [
        { provide: ConfigService, useValue: new ConfigService(loaded) },
        ConfigPatchService,
      ],
      exports: [ConfigService, ConfigPatchService],
    };
  }
}
