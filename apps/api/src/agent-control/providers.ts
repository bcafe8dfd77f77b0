// Nest wiring of the agent-control side, kept out of app.module.ts so that file stays a list.
import { randomBytes } from 'node:crypto';
import {
  Inject,
  Logger,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
  type Provider,
} from '@nestjs/common';
import type { Redis } from 'ioredis';
import type { AppConfig } from '../config.js';
import { AppError, ErrorCode } from '../common/errors.js';
import { DATABASE, type PrismaDatabase } from '../repositories/index.js';
import { AgentControlService } from '../services/agent-control.service.js';
import { ChangeRunner } from '../services/change-runner.js';
import { TELEMETRY_INGEST, type TelemetryIngest } from '../services/telemetry.port.js';
import { REDIS } from '../tokens.js';
import { PRESENCE, type Presence, RedisPresence } from './presence.js';
import { PushWorkers, RedisAgentSignal, StreamHub } from './push.js';
import { SECRET_BOX, SecretBox } from './secret-box.js';

const AGENT_SIGNAL = Symbol('AGENT_SIGNAL');
const PUSH_OPTIONS = Symbol('PUSH_OPTIONS');

/** Until a TelemetryIngest is bound, reports are refused loudly rather than dropped. */
const unwiredTelemetry: TelemetryIngest = {
  ingest: () =>
    Promise.reject(new AppError(ErrorCode.Unavailable, 'telemetry storage is not configured in this API')),
};

function masterKey(config: AppConfig): Buffer {
  if (config.SLIPSTREAM_MASTER_KEY) return Buffer.from(config.SLIPSTREAM_MASTER_KEY, 'base64');
  // Only outside production (config refuses a missing key there): keys sealed under it die with the process.
  new Logger('AgentControl').warn(
    'SLIPSTREAM_MASTER_KEY is not set: redirect keys are sealed under a throwaway key for this process only',
  );
  return randomBytes(32);
}

export function agentControlProviders(config: AppConfig): Provider[] {
  return [
    { provide: SECRET_BOX, useFactory: () => new SecretBox(masterKey(config)) },
    {
      provide: PRESENCE,
      inject: [REDIS],
      useFactory: (r: Redis) => new RedisPresence(r, config.REDIS_PREFIX),
    },
    {
      provide: AGENT_SIGNAL,
      inject: [REDIS],
      useFactory: (r: Redis) => new RedisAgentSignal(r, config.REDIS_PREFIX),
    },
    {
      provide: AgentControlService,
      inject: [
        DATABASE,
        ChangeRunner,
        SECRET_BOX,
        PRESENCE,
        AGENT_SIGNAL,
        { token: TELEMETRY_INGEST, optional: true },
      ],
      useFactory: (
        d: PrismaDatabase,
        c: ChangeRunner,
        box: SecretBox,
        p: Presence,
        s: RedisAgentSignal,
        t: TelemetryIngest | undefined,
      ) => new AgentControlService(d, c, box, p, s, t ?? unwiredTelemetry),
    },
    {
      provide: StreamHub,
      inject: [AGENT_SIGNAL, AgentControlService],
      useFactory: (s: RedisAgentSignal, svc: AgentControlService) =>
        new StreamHub(config.REDIS_URL, s, () => svc, config.AGENT_PING_MS),
    },
    {
      provide: PUSH_OPTIONS,
      useValue: { enabled: config.WORKER === '1' && config.CONFIG_PUBLISHER === 'bullmq', config },
    },
  ];
}

/** Starts the queue workers once the app is up and stops streams and workers on shutdown. */
export class PushLifecycle implements OnApplicationBootstrap, OnApplicationShutdown {
  private workers: PushWorkers | null = null;

  constructor(
    @Inject(StreamHub) private readonly hub: StreamHub,
    @Inject(AgentControlService) private readonly svc: AgentControlService,
    @Inject(PUSH_OPTIONS) private readonly opts: { enabled: boolean; config: AppConfig },
  ) {}

  onApplicationBootstrap(): void {
    if (!this.opts.enabled) return;
    const c = this.opts.config;
    this.workers = new PushWorkers(c.REDIS_URL, c.REDIS_PREFIX, c.AGENT_SWEEP_MS, this.svc);
  }

  async onApplicationShutdown(): Promise<void> {
    await this.hub.close();
    await this.workers?.close();
  }
}
