import 'reflect-metadata';
import { ConsoleLogger, type LogLevel } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { AppModule } from './app.module.js';
import type { AppConfig } from './config.js';

export const BODY_LIMIT = 64 * 1024;

const NEST_LEVELS: Record<AppConfig['LOG_LEVEL'], LogLevel[] | false> = {
  silent: false,
  fatal: ['fatal'],
  error: ['fatal', 'error'],
  warn: ['fatal', 'error', 'warn'],
  info: ['fatal', 'error', 'warn', 'log'],
  debug: ['fatal', 'error', 'warn', 'log', 'debug'],
  trace: ['fatal', 'error', 'warn', 'log', 'debug', 'verbose'],
};

/** Nest's bootstrap chatter (one line per route) only at debug level. */
class AppLogger extends ConsoleLogger {
  private static readonly BOOT = new Set([
    'RoutesResolver',
    'RouterExplorer',
    'InstanceLoader',
    'NestFactory',
  ]);

  override log(message: unknown, context?: string): void {
    if (context && AppLogger.BOOT.has(context)) {
      if (this.isLevelEnabled('debug')) super.debug(message, context);
      return;
    }
    super.log(message, context);
  }
}

/** Builds the API (not listening yet); tests call this and use `app.inject` or `listen(0)`. */
export async function createApp(config: AppConfig): Promise<NestFastifyApplication> {
  const adapter = new FastifyAdapter({
    bodyLimit: BODY_LIMIT,
    // Only the listed proxies' X-Forwarded-For is believed; from anyone else it is ignored.
    trustProxy: config.TRUST_PROXY.length > 0 ? config.TRUST_PROXY : false,
  });
  const levels = NEST_LEVELS[config.LOG_LEVEL];
  const app = await NestFactory.create<NestFastifyApplication>(AppModule.forRoot(config), adapter, {
    logger: levels === false ? false : new AppLogger({ logLevels: levels }),
    abortOnError: false,
  });
  app.enableShutdownHooks(['SIGTERM', 'SIGINT']);
  await app.init();
  return app;
}
