// Nest wiring of the telemetry side (storage, rollups, stats, stream, metrics, backend health), kept out
// of app.module.ts so that file stays a list.
import {
  Inject,
  Injectable,
  Optional,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
  type Provider,
} from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import type { Redis } from 'ioredis';
import { StreamHub } from '../agent-control/push.js';
import type { AppConfig } from '../config.js';
import { MetricsController } from '../controllers/metrics.controller.js';
import { StatsController } from '../controllers/stats.controller.js';
import { StreamController } from '../controllers/stream.controller.js';
import { DATABASE, type PrismaDatabase } from '../repositories/index.js';
import { REDIS } from '../tokens.js';
import { ChangeRunner, systemClock } from './change-runner.js';
import { HealthService } from './health.service.js';
import { RollupScheduler, RollupService } from './rollup.service.js';
import { installHttpMetrics, StatsMetrics } from './stats-metrics.js';
import { StatsService } from './stats.service.js';
import { TELEMETRY_INGEST } from './telemetry.port.js';
import { TelemetryService } from './telemetry.service.js';

/** Controllers with OpenAPI operations (MetricsController has none and is added separately). */
export const TELEMETRY_CONTROLLERS = [StatsController, StreamController];
export { MetricsController };

/** Starts the rollup schedulers and the HTTP metrics hook once the app is wired; stops the worker. */
@Injectable()
export class TelemetryLifecycle implements OnApplicationBootstrap, OnApplicationShutdown {
  constructor(
    @Inject(RollupScheduler) private readonly scheduler: RollupScheduler | null,
    @Inject(StatsMetrics) private readonly metrics: StatsMetrics,
    @Inject(HttpAdapterHost) private readonly host: HttpAdapterHost,
    @Optional() @Inject(StreamHub) private readonly hub: StreamHub | null,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    installHttpMetrics(this.host.httpAdapter.getInstance(), this.metrics);
    const hub = this.hub;
    if (hub) this.metrics.countAgentStreams(() => hub.size);
    this.scheduler?.start();
  }

  async onApplicationShutdown(): Promise<void> {
    await this.scheduler?.close();
  }
}

export function telemetryProviders(config: AppConfig): Provider[] {
  return [
    { provide: StatsMetrics, useFactory: () => new StatsMetrics() },
    {
      provide: HealthService,
      inject: [DATABASE, ChangeRunner, StatsMetrics],
      useFactory: (d: PrismaDatabase, c: ChangeRunner, m: StatsMetrics) =>
        new HealthService(d, c, m, systemClock),
    },
    {
      provide: TelemetryService,
      inject: [DATABASE, REDIS, HealthService, StatsMetrics],
      useFactory: (d: PrismaDatabase, r: Redis, h: HealthService, m: StatsMetrics) =>
        new TelemetryService(d, r, config.REDIS_PREFIX, h, m, systemClock),
    },
    { provide: TELEMETRY_INGEST, useExisting: TelemetryService },
    {
      provide: StatsService,
      inject: [DATABASE],
      useFactory: (d: PrismaDatabase) => new StatsService(d, systemClock),
    },
    {
      provide: RollupService,
      inject: [DATABASE, HealthService],
      useFactory: (d: PrismaDatabase, h: HealthService) => new RollupService(d, h, systemClock),
    },
    {
      provide: RollupScheduler,
      inject: [RollupService, StatsMetrics],
      useFactory: (r: RollupService, m: StatsMetrics) =>
        config.WORKER === '1' ? new RollupScheduler(config.REDIS_URL, config.REDIS_PREFIX, r, m) : null,
    },
    TelemetryLifecycle,
  ];
}
