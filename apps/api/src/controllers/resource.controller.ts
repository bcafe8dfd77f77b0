import { Controller, Delete, Get, Inject, Patch, Post, Res } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import type { Principal } from '../common/principal.js';
import { IdParams, PageQuery } from '../dto/common.js';
import {
  BackendCreate,
  BackendDto,
  BackendItemParams,
  BackendPage,
  BackendParams,
  BackendUpdate,
  PoolCreate,
  PoolDto,
  PoolPage,
  PoolUpdate,
} from '../dto/pool.dto.js';
import { VipCreate, VipDto, VipPage, VipUpdate } from '../dto/vip.dto.js';
import { Body, Caller, Endpoint, Idem, IfMatch, Params, Query, replayAware } from '../http/endpoint.js';
import type { IdempotencyRequest } from '../services/change-runner.js';
import { BackendService, PoolService, VipService } from '../services/resource.service.js';

type Id = { id: string };

@Controller('v1/pools')
export class PoolController {
  constructor(@Inject(PoolService) private readonly pools: PoolService) {}

  @Get()
  @Endpoint({
    operationId: 'listPools',
    summary: 'List pools',
    tag: 'pools',
    role: 'viewer',
    query: PageQuery,
    response: PoolPage,
  })
  list(@Caller() p: Principal, @Query() q: PageQuery) {
    return this.pools.list(p, q);
  }

  @Post()
  @Endpoint({
    operationId: 'createPool',
    summary: 'Create a pool',
    tag: 'pools',
    role: 'operator',
    body: PoolCreate,
    response: PoolDto,
    status: 201,
    idempotent: true,
    etag: true,
    errors: [409],
  })
  async create(
    @Caller() p: Principal,
    @Body() b: PoolCreate,
    @Idem() idem: IdempotencyRequest | undefined,
    @Res({ passthrough: true }) res: FastifyReply,
  ) {
    return replayAware(res, await this.pools.create(p, b, idem));
  }

  @Get(':id')
  @Endpoint({
    operationId: 'getPool',
    summary: 'Get a pool',
    tag: 'pools',
    role: 'viewer',
    params: IdParams,
    response: PoolDto,
    etag: true,
  })
  get(@Caller() p: Principal, @Params() { id }: Id) {
    return this.pools.get(p, id);
  }

  @Patch(':id')
  @Endpoint({
    operationId: 'updatePool',
    summary: 'Update a pool (the health probe is merged field by field)',
    tag: 'pools',
    role: 'operator',
    params: IdParams,
    body: PoolUpdate,
    response: PoolDto,
    ifMatch: true,
    etag: true,
    errors: [409],
  })
  update(
    @Caller() p: Principal,
    @Params() { id }: Id,
    @Body() b: PoolUpdate,
    @IfMatch() v: number | undefined,
  ) {
    return this.pools.update(p, id, b, v);
  }

  @Delete(':id')
  @Endpoint({
    operationId: 'deletePool',
    summary: 'Delete a pool and its backends (409 while a VIP uses it)',
    tag: 'pools',
    role: 'operator',
    params: IdParams,
    status: 204,
    ifMatch: true,
    errors: [409],
  })
  async delete(@Caller() p: Principal, @Params() { id }: Id, @IfMatch() v: number | undefined) {
    await this.pools.delete(p, id, v);
  }
}

type BackendId = { poolId: string; id: string };

@Controller('v1/pools/:poolId/backends')
export class BackendController {
  constructor(@Inject(BackendService) private readonly backends: BackendService) {}

  @Get()
  @Endpoint({
    operationId: 'listBackends',
    summary: "List a pool's backends",
    tag: 'backends',
    role: 'viewer',
    params: BackendParams,
    query: PageQuery,
    response: BackendPage,
  })
  list(@Caller() p: Principal, @Params() { poolId }: { poolId: string }, @Query() q: PageQuery) {
    return this.backends.list(p, poolId, q);
  }

  @Post()
  @Endpoint({
    operationId: 'createBackend',
    summary: 'Add a backend to a pool',
    tag: 'backends',
    role: 'operator',
    params: BackendParams,
    body: BackendCreate,
    response: BackendDto,
    status: 201,
    idempotent: true,
    etag: true,
    errors: [409],
  })
  async create(
    @Caller() p: Principal,
    @Params() { poolId }: { poolId: string },
    @Body() b: BackendCreate,
    @Idem() idem: IdempotencyRequest | undefined,
    @Res({ passthrough: true }) res: FastifyReply,
  ) {
    return replayAware(res, await this.backends.create(p, poolId, b, idem));
  }

  @Get(':id')
  @Endpoint({
    operationId: 'getBackend',
    summary: 'Get a backend',
    tag: 'backends',
    role: 'viewer',
    params: BackendItemParams,
    response: BackendDto,
    etag: true,
  })
  get(@Caller() p: Principal, @Params() { poolId, id }: BackendId) {
    return this.backends.get(p, poolId, id);
  }

  @Patch(':id')
  @Endpoint({
    operationId: 'updateBackend',
    summary: 'Update a backend (weight 0 or state draining to drain it)',
    tag: 'backends',
    role: 'operator',
    params: BackendItemParams,
    body: BackendUpdate,
    response: BackendDto,
    ifMatch: true,
    etag: true,
    errors: [409],
  })
  update(
    @Caller() p: Principal,
    @Params() { poolId, id }: BackendId,
    @Body() b: BackendUpdate,
    @IfMatch() v: number | undefined,
  ) {
    return this.backends.update(p, poolId, id, b, v);
  }

  @Delete(':id')
  @Endpoint({
    operationId: 'deleteBackend',
    summary: 'Remove a backend',
    tag: 'backends',
    role: 'operator',
    params: BackendItemParams,
    status: 204,
    ifMatch: true,
  })
  async delete(
    @Caller() p: Principal,
    @Params() { poolId, id }: BackendId,
    @IfMatch() v: number | undefined,
  ) {
    await this.backends.delete(p, poolId, id, v);
  }
}

@Controller('v1/vips')
export class VipController {
  constructor(@Inject(VipService) private readonly vips: VipService) {}

  @Get()
  @Endpoint({
    operationId: 'listVips',
    summary: 'List VIPs',
    tag: 'vips',
    role: 'viewer',
    query: PageQuery,
    response: VipPage,
  })
  list(@Caller() p: Principal, @Query() q: PageQuery) {
    return this.vips.list(p, q);
  }

  @Post()
  @Endpoint({
    operationId: 'createVip',
    summary: 'Create a VIP (409 when the tenant already has a VIP on this address, protocol and port)',
    tag: 'vips',
    role: 'operator',
    body: VipCreate,
    response: VipDto,
    status: 201,
    idempotent: true,
    etag: true,
    errors: [409],
  })
  async create(
    @Caller() p: Principal,
    @Body() b: VipCreate,
    @Idem() idem: IdempotencyRequest | undefined,
    @Res({ passthrough: true }) res: FastifyReply,
  ) {
    return replayAware(res, await this.vips.create(p, b, idem));
  }

  @Get(':id')
  @Endpoint({
    operationId: 'getVip',
    summary: 'Get a VIP',
    tag: 'vips',
    role: 'viewer',
    params: IdParams,
    response: VipDto,
    etag: true,
  })
  get(@Caller() p: Principal, @Params() { id }: Id) {
    return this.vips.get(p, id);
  }

  @Patch(':id')
  @Endpoint({
    operationId: 'updateVip',
    summary: 'Update a VIP (the bypass block is merged field by field)',
    tag: 'vips',
    role: 'operator',
    params: IdParams,
    body: VipUpdate,
    response: VipDto,
    ifMatch: true,
    etag: true,
    errors: [409],
  })
  update(
    @Caller() p: Principal,
    @Params() { id }: Id,
    @Body() b: VipUpdate,
    @IfMatch() v: number | undefined,
  ) {
    return this.vips.update(p, id, b, v);
  }

  @Delete(':id')
  @Endpoint({
    operationId: 'deleteVip',
    summary: 'Delete a VIP',
    tag: 'vips',
    role: 'operator',
    params: IdParams,
    status: 204,
    ifMatch: true,
  })
  async delete(@Caller() p: Principal, @Params() { id }: Id, @IfMatch() v: number | undefined) {
    await this.vips.delete(p, id, v);
  }
}
