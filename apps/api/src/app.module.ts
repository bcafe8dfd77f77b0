import {
  type DynamicModule,
  Inject,
  Logger,
  Module,
  type OnApplicationShutdown,
  type Provider,
} from '@nestjs/common';
import { APP_FILTER, APP_GUARD, APP_INTERCEPTOR } from '@nestjs/core';
import { Redis } from 'ioredis';
import { APP_CONFIG, type AppConfig } from './config.js';
import {
  AgentController,
  ApiKeyController,
  AuditController,
  AuthController,
  MemberController,
} from './controllers/account.controller.js';
import { BackendController, PoolController, VipController } from './controllers/resource.controller.js';
import { HealthController } from './controllers/system.controller.js';
import { DEFAULT_BUNDLE_DIR, InstallArtifacts } from './install/artifacts.js';
import { InstallController } from './install/install.controller.js';
import { AgentAdminController, AgentProtocolController } from './controllers/agent-control.controller.js';
import { agentControlProviders, PushLifecycle } from './agent-control/providers.js';
import { createPrisma, type PrismaClient } from './db/prisma.js';
import { MetricsController, TELEMETRY_CONTROLLERS, telemetryProviders } from './services/stats.providers.js';
import { AuthGuard, ValidationInterceptor } from './http/guards.js';
import { ProblemFilter } from './http/problem.filter.js';
import { RateLimiter } from './http/rate-limit.js';
import { buildOpenApi } from './openapi/build.js';
import { OPENAPI_DOC, OpenApiController } from './openapi/openapi.controller.js';
import { DATABASE, PrismaDatabase } from './repositories/index.js';
import {
  AgentService,
  ApiKeyService,
  AuditService,
  AuthService,
  argon2Hasher,
} from './services/account.service.js';
import { MemberService } from './services/account.service.js';
import { ChangeRunner, systemClock } from './services/change-runner.js';
import { PRESENCE, type Presence } from './agent-control/presence.js';
import {
  BullMqPublisher,
  CONFIG_PUBLISHER,
  type ConfigChangedPublisher,
  NoopPublisher,
} from './services/publisher.js';
import { BackendService, PoolService, VipService } from './services/resource.service.js';
import { PRISMA, REDIS } from './tokens.js';

/** Every controller; the OpenAPI document is built from exactly this list. */
export const CONTROLLERS = [
  HealthController,
  OpenApiController,
  AuthController,
  MemberController,
  ApiKeyController,
  PoolController,
  BackendController,
  VipController,
  AgentController,
  AuditController,
  AgentProtocolController,
  AgentAdminController,
  ...TELEMETRY_CONTROLLERS,
];

class Shutdown implements OnApplicationShutdown {
  constructor(
    @Inject(PRISMA) private readonly prisma: PrismaClient,
    @Inject(REDIS) private readonly redis: Redis,
    @Inject(CONFIG_PUBLISHER) private readonly publisher: ConfigChangedPublisher,
  ) {}

  async onApplicationShutdown(): Promise<void> {
    new Logger('Shutdown').log('closing the queue, PostgreSQL and Redis connections');
    await this.publisher.close().catch(() => {});
    await this.prisma.$disconnect().catch(() => {});
    this.redis.disconnect();
  }
}

function services(): Provider[] {
  const db = { inject: [DATABASE, ChangeRunner] };
  return [
    {
      provide: ChangeRunner,
      inject: [DATABASE, CONFIG_PUBLISHER],
      useFactory: (d: PrismaDatabase, p: ConfigChangedPublisher) => new ChangeRunner(d, p),
    },
    {
      provide: AuthService,
      inject: [DATABASE, ChangeRunner, APP_CONFIG],
      useFactory: (d: PrismaDatabase, c: ChangeRunner, cfg: AppConfig) =>
        new AuthService(d, c, argon2Hasher, cfg.SESSION_TTL_HOURS),
    },
    {
      provide: MemberService,
      ...db,
      useFactory: (d: PrismaDatabase, c: ChangeRunner) => new MemberService(d, c),
    },
    {
      provide: ApiKeyService,
      ...db,
      useFactory: (d: PrismaDatabase, c: ChangeRunner) => new ApiKeyService(d, c),
    },
    {
      provide: AgentService,
      inject: [DATABASE, ChangeRunner, PRESENCE],
      useFactory: (d: PrismaDatabase, c: ChangeRunner, pr: Presence) =>
        new AgentService(d, c, systemClock, pr),
    },
    { provide: AuditService, inject: [DATABASE], useFactory: (d: PrismaDatabase) => new AuditService(d) },
    {
      provide: PoolService,
      ...db,
      useFactory: (d: PrismaDatabase, c: ChangeRunner) => new PoolService(d, c),
    },
    {
      provide: BackendService,
      ...db,
      useFactory: (d: PrismaDatabase, c: ChangeRunner) => new BackendService(d, c),
    },
    { provide: VipService, ...db, useFactory: (d: PrismaDatabase, c: ChangeRunner) => new VipService(d, c) },
  ];
}

@Module({})
export class AppModule {
  static forRoot(config: AppConfig): DynamicModule {
    return {
      module: AppModule,
      controllers: [...CONTROLLERS, MetricsController, InstallController],
      providers: [
        { provide: APP_CONFIG, useValue: config },
        { provide: PRISMA, useFactory: () => createPrisma(config.DATABASE_URL) },
        { provide: DATABASE, inject: [PRISMA], useFactory: (p: PrismaClient) => new PrismaDatabase(p) },
        {
          provide: REDIS,
          // One retry, then the command fails: a Redis outage shows up as errors and in /v1/health, not as hangs.
          useFactory: () => {
            const redis = new Redis(config.REDIS_URL, { maxRetriesPerRequest: 1 });
            let down = false;
            // ioredis reconnects by itself; log the outage once instead of on every retry.
            redis.on('error', (err: Error) => {
              if (!down) new Logger('Redis').warn(`Redis unreachable: ${err.message}`);
              down = true;
            });
            redis.on('ready', () => {
              down = false;
            });
            return redis;
          },
        },
        {
          provide: CONFIG_PUBLISHER,
          inject: [REDIS],
          useFactory: (r: Redis) =>
            config.CONFIG_PUBLISHER === 'bullmq'
              ? new BullMqPublisher(r, config.REDIS_PREFIX)
              : new NoopPublisher(),
        },
        {
          provide: RateLimiter,
          inject: [REDIS],
          useFactory: (r: Redis) => new RateLimiter(r, config.REDIS_PREFIX, config.AUTH_RATE_LIMIT_PER_MIN),
        },
        { provide: OPENAPI_DOC, useFactory: () => buildOpenApi(CONTROLLERS) },
        {
          provide: InstallArtifacts,
          useFactory: () => new InstallArtifacts(config.SLIPSTREAM_AGENT_BUNDLE_DIR ?? DEFAULT_BUNDLE_DIR),
        },
        ...services(),
        ...agentControlProviders(config),
        ...telemetryProviders(config),
        Shutdown,
        PushLifecycle,
        { provide: APP_GUARD, useClass: AuthGuard },
        { provide: APP_INTERCEPTOR, useClass: ValidationInterceptor },
        { provide: APP_FILTER, useClass: ProblemFilter },
      ],
    };
  }
}
