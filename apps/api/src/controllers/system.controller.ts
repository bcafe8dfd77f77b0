import { Controller, Get, Inject, Res } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import type { Redis } from 'ioredis';
import { HealthDto } from '../dto/account.dto.js';
import { Endpoint } from '../http/endpoint.js';
import { DATABASE, type PrismaDatabase } from '../repositories/index.js';
import { REDIS } from '../tokens.js';

const within = <T>(p: Promise<T>, ms: number) =>
  Promise.race([p, new Promise<never>((_, rej) => setTimeout(() => rej(new Error('timeout')), ms).unref())]);

@Controller('v1')
export class HealthController {
  constructor(
    @Inject(DATABASE) private readonly db: PrismaDatabase,
    @Inject(REDIS) private readonly redis: Redis,
  ) {}

  @Get('health')
  @Endpoint({
    operationId: 'getHealth',
    summary: 'PostgreSQL and Redis reachability (503 when either is down)',
    tag: 'system',
    role: 'public',
    response: HealthDto,
  })
  async health(@Res({ passthrough: true }) res: FastifyReply): Promise<HealthDto> {
    const [pgOk, redisOk] = await Promise.all([
      within(this.db.ping(), 2000).then(
        () => true,
        () => false,
      ),
      within(this.redis.ping(), 2000).then(
        () => true,
        () => false,
      ),
    ]);
    if (!pgOk || !redisOk) res.status(503);
    return {
      status: pgOk && redisOk ? 'ok' : 'degraded',
      postgres: pgOk ? 'up' : 'down',
      redis: redisOk ? 'up' : 'down',
    };
  }
}
