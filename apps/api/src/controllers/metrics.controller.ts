// Prometheus scrape endpoint. Outside /v1 and outside the OpenAPI document (no @Endpoint): it is for the
// operator's monitoring, not for tenants. Open by default; METRICS_TOKEN, when set, is required as a
// bearer token (compared in constant time).
import { timingSafeEqual, createHash } from 'node:crypto';
import { Controller, Get, Inject, Req, Res } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { AppError, ErrorCode } from '../common/errors.js';
import { APP_CONFIG, type AppConfig } from '../config.js';
import { StatsMetrics } from '../services/stats-metrics.js';

const digest = (s: string) => createHash('sha256').update(s).digest();

@Controller()
export class MetricsController {
  constructor(
    @Inject(StatsMetrics) private readonly metrics: StatsMetrics,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  @Get('metrics')
  async scrape(@Req() req: FastifyRequest, @Res() res: FastifyReply): Promise<void> {
    const want = this.config.METRICS_TOKEN;
    if (want) {
      const m = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '');
      if (!m?.[1] || !timingSafeEqual(digest(m[1]), digest(want))) {
        throw new AppError(
          ErrorCode.Unauthenticated,
          'send Authorization: Bearer <METRICS_TOKEN>',
          undefined,
          {
            'www-authenticate': 'Bearer',
          },
        );
      }
    }
    const text = await this.metrics.text();
    await res.header('content-type', this.metrics.contentType).send(text);
  }
}
