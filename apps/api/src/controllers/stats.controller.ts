import { Controller, Get, Inject } from '@nestjs/common';
import type { Principal } from '../common/principal.js';
import { IdParams } from '../dto/common.js';
import { StatsQuery, TenantStats, VipStats } from '../dto/stats.dto.js';
import { Caller, Endpoint, Params, Query } from '../http/endpoint.js';
import { StatsService } from '../services/stats.service.js';

@Controller('v1')
export class StatsController {
  constructor(@Inject(StatsService) private readonly stats: StatsService) {}

  @Get('stats')
  @Endpoint({
    operationId: 'getTenantStats',
    summary: "The tenant's traffic series (all VIPs) and each VIP's current figures",
    tag: 'stats',
    role: 'viewer',
    query: StatsQuery,
    response: TenantStats,
  })
  tenant(@Caller() p: Principal, @Query() q: StatsQuery) {
    return this.stats.tenant(p, q);
  }

  @Get('vips/:id/stats')
  @Endpoint({
    operationId: 'getVipStats',
    summary: "A VIP's series: flows, packets and bytes via mux and direct, bypass ratio, time to bypass",
    tag: 'stats',
    role: 'viewer',
    params: IdParams,
    query: StatsQuery,
    response: VipStats,
  })
  vip(@Caller() p: Principal, @Params() { id }: { id: string }, @Query() q: StatsQuery) {
    return this.stats.vip(p, id, q);
  }
}
