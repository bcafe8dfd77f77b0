// The environment is read once, here, into a typed object; a bad value fails the start with every problem.
import { z } from 'zod';

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

const url = (protocols: string[]) =>
  z.string().refine(
    (v) => {
      try {
        return protocols.includes(new URL(v).protocol);
      } catch {
        return false;
      }
    },
    `must be a ${protocols.join(' or ')}// URL`,
  );

const EnvSchema = z
  .object({
    PORT: z.coerce.number().int().min(0).max(65535).default(3001),
    HOST: z.string().min(1).default('0.0.0.0'),
    DATABASE_URL: url(['postgres:', 'postgresql:']),
    REDIS_URL: url(['redis:', 'rediss:']),
    LOG_LEVEL: z.enum(LOG_LEVELS).default('info'),
    /** Requests per minute per client address on /v1/auth/* (shared through Redis). */
    AUTH_RATE_LIMIT_PER_MIN: z.coerce.number().int().min(1).default(20),
    /** Agent enrollments per minute per client address (its own budget, apart from logins). */
    ENROLL_RATE_LIMIT_PER_MIN: z.coerce.number().int().min(1).default(120),
    SESSION_TTL_HOURS: z.coerce
      .number()
      .int()
      .min(1)
      .max(24 * 90)
      .default(24 * 7),
    /** `bullmq` enqueues a config-push job per change; `none` disables it. */
    CONFIG_PUBLISHER: z.enum(['bullmq', 'none']).default('bullmq'),
    /** Key prefix for everything the API stores in Redis, so several deployments can share one. */
    REDIS_PREFIX: z.string().min(1).default('slipstream'),
    /** When set, GET /metrics requires `Authorization: Bearer <METRICS_TOKEN>`; unset, it is open. */
    METRICS_TOKEN: z.string().min(16).optional(),
    NODE_ENV: z.string().default('development'),
    /**
     * Proxies whose X-Forwarded-For is believed (comma-separated addresses or CIDRs; `none` for no proxy),
     * so the auth rate limit counts the browser behind the console, not the console server.
     */
    TRUST_PROXY: z
      .string()
      .default('127.0.0.1,::1')
      .transform((v) =>
        v.trim() === 'none'
          ? []
          : v
              .split(',')
              .map((x) => x.trim())
              .filter(Boolean),
      )
      .pipe(z.array(z.union([z.ipv4(), z.ipv6(), z.cidrv4(), z.cidrv6()]))),
    /** base64 of 32 bytes: encrypts the tenants' redirect keys at rest. Required in production. */
    SLIPSTREAM_MASTER_KEY: z
      .string()
      .refine((v) => Buffer.from(v, 'base64').length === 32, 'must be base64 of exactly 32 bytes')
      .optional(),
    /** The API's URL as agents' hosts reach it, written into GET /install.sh; unset: the request's Host. */
    SLIPSTREAM_PUBLIC_URL: url(['http:', 'https:'])
      .refine(
        (v) => /^https?:\/\/[A-Za-z0-9.:@%_[\]-]+(\/[A-Za-z0-9._~/-]*)?$/.test(v),
        'must be a plain URL',
      )
      .transform((v) => v.replace(/\/+$/, ''))
      .optional(),
    /** The agent's bundle folder served to installers (default: apps/agent/dist/bundle of this checkout). */
    SLIPSTREAM_AGENT_BUNDLE_DIR: z.string().min(1).optional(),
    /** `1` runs the config-push worker and the agent sweep in this process; several processes may. */
    WORKER: z.enum(['0', '1']).default('1'),
    /** How often connected agents that lag are re-sent their state and finished key rotations retire. */
    AGENT_SWEEP_MS: z.coerce.number().int().min(100).max(600_000).default(5000),
    /** Keep-alive `ping` on agent streams (proxies drop idle connections; it also refreshes presence). */
    AGENT_PING_MS: z.coerce.number().int().min(100).max(60_000).default(15_000),
  })
  .superRefine((c, ctx) => {
    if (c.NODE_ENV === 'production' && !c.SLIPSTREAM_MASTER_KEY) {
      ctx.addIssue({ code: 'custom', path: ['SLIPSTREAM_MASTER_KEY'], message: 'is required in production' });
    }
  });

export type AppConfig = z.infer<typeof EnvSchema>;

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  }
}

export function loadConfig(env: Record<string, string | undefined> = process.env): AppConfig {
  const parsed = EnvSchema.safeParse(
    Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== '')),
  );
  if (!parsed.success) {
    throw new ConfigError(parsed.error.issues.map((i) => `${i.path.join('.') || '(env)'}: ${i.message}`));
  }
  return parsed.data;
}

export const APP_CONFIG = Symbol('APP_CONFIG');
