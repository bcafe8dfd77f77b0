import { AppError, ErrorCode } from '../common/errors.js';
import { decodeCursor, encodeCursor, isUuid } from '../common/cursor.js';
import type { Principal } from '../common/principal.js';
import {
  type BackendCreate,
  type BackendDto,
  type BackendUpdate,
  type PoolCreate,
  type PoolDto,
  type PoolUpdate,
  PROBE_DEFAULTS,
  type Probe,
  mapBackend,
  mapPool,
  probeColumns,
  resolveProbe,
} from '../dto/pool.dto.js';
import {
  BYPASS_DEFAULTS,
  type VipCreate,
  type VipDto,
  type VipUpdate,
  bypassColumns,
  distributionToDb,
  mapVip,
} from '../dto/vip.dto.js';
import type { PageQuery } from '../dto/common.js';
import type { Database, Repos } from '../repositories/index.js';
import type { Pool, Vip } from '../generated/prisma/client.js';
import {
  type Applied,
  type ChangeRunner,
  type IdempotencyRequest,
  checkVersion,
  mapWrite,
  stale,
} from './change-runner.js';

export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}

export function pageRequest(q: PageQuery) {
  return { limit: q.limit, after: decodeCursor(q.cursor, isUuid) };
}

const probeInvalid = (msg: string) => {
  const [path = '', message = msg] = msg.split(': ');
  return new AppError(ErrorCode.Validation, msg, [{ path, message }]);
};

function probeOf(p: Pool): Probe {
  return mapPool(p).healthProbe;
}

export class PoolService {
  constructor(
    private readonly db: Database,
    private readonly changes: ChangeRunner,
  ) {}

  async list(p: Principal, q: PageQuery): Promise<Page<PoolDto>> {
    const page = await this.db.repos.pools.list(p.tenantId, pageRequest(q));
    return { items: page.items.map(mapPool), nextCursor: encodeCursor(page.nextAfter) };
  }

  async get(p: Principal, id: string): Promise<PoolDto> {
    const row = await this.db.repos.pools.find(p.tenantId, id);
    if (!row) throw AppError.notFound('pool');
    return mapPool(row);
  }

  async create(p: Principal, input: PoolCreate, idem?: IdempotencyRequest): Promise<Applied<PoolDto>> {
    const probe = resolveProbe(PROBE_DEFAULTS, input.healthProbe);
    if (typeof probe === 'string') throw probeInvalid(probe);
    return this.changes.apply(
      p,
      async (r) => {
        const row = await mapWrite(r.pools.create(p.tenantId, { name: input.name, ...probeColumns(probe) }), {
          unique: new AppError(ErrorCode.Conflict, `a pool named ${input.name} already exists`),
        });
        const value = mapPool(row);
        return {
          value,
          action: 'pool.create',
          resourceType: 'pool',
          resourceId: row.id,
          before: null,
          after: value,
        };
      },
      idem,
    );
  }

  async update(p: Principal, id: string, input: PoolUpdate, ifMatch?: number): Promise<PoolDto> {
    const { value } = await this.changes.apply(p, async (r) => {
      const cur = await r.pools.find(p.tenantId, id);
      if (!cur) throw AppError.notFound('pool');
      checkVersion(ifMatch, cur.version);
      const probe = resolveProbe(probeOf(cur), input.healthProbe);
      if (typeof probe === 'string') throw probeInvalid(probe);
      const row = await mapWrite(
        r.pools.update(p.tenantId, id, cur.version, {
          ...(input.name !== undefined ? { name: input.name } : {}),
          ...probeColumns(probe),
        }),
        {
          unique: new AppError(ErrorCode.Conflict, `a pool named ${input.name} already exists`),
          missing: stale(),
        },
      );
      const value = mapPool(row);
      return {
        value,
        action: 'pool.update',
        resourceType: 'pool',
        resourceId: id,
        before: mapPool(cur),
        after: value,
      };
    });
    return value;
  }

  async delete(p: Principal, id: string, ifMatch?: number): Promise<void> {
    await this.changes.apply(p, async (r) => {
      const cur = await r.pools.find(p.tenantId, id);
      if (!cur) throw AppError.notFound('pool');
      checkVersion(ifMatch, cur.version);
      const inUse = new AppError(ErrorCode.PoolInUse, 'delete or move the VIPs that use this pool first');
      if ((await r.pools.countVipsUsing(p.tenantId, id)) > 0) throw inUse;
      await mapWrite(r.pools.delete(p.tenantId, id), {
        foreignKey: inUse,
        missing: AppError.notFound('pool'),
      });
      return {
        value: null,
        action: 'pool.delete',
        resourceType: 'pool',
        resourceId: id,
        before: mapPool(cur),
        after: null,
      };
    });
  }
}

export class BackendService {
  constructor(
    private readonly db: Database,
    private readonly changes: ChangeRunner,
  ) {}

  private async pool(r: Repos, tenantId: string, poolId: string): Promise<void> {
    if (!(await r.pools.find(tenantId, poolId))) throw AppError.notFound('pool');
  }

  async list(p: Principal, poolId: string, q: PageQuery): Promise<Page<BackendDto>> {
    await this.pool(this.db.repos, p.tenantId, poolId);
    const page = await this.db.repos.backends.list(p.tenantId, poolId, pageRequest(q));
    return { items: page.items.map(mapBackend), nextCursor: encodeCursor(page.nextAfter) };
  }

  async get(p: Principal, poolId: string, id: string): Promise<BackendDto> {
    const row = await this.db.repos.backends.find(p.tenantId, poolId, id);
    if (!row) throw AppError.notFound('backend');
    return mapBackend(row);
  }

  async create(
    p: Principal,
    poolId: string,
    input: BackendCreate,
    idem?: IdempotencyRequest,
  ): Promise<Applied<BackendDto>> {
    return this.changes.apply(
      p,
      async (r) => {
        await this.pool(r, p.tenantId, poolId);
        const row = await mapWrite(r.backends.create(p.tenantId, poolId, input), {
          unique: new AppError(ErrorCode.Conflict, `${input.address}:${input.port} is already in this pool`),
        });
        const value = mapBackend(row);
        return {
          value,
          action: 'backend.create',
          resourceType: 'backend',
          resourceId: row.id,
          before: null,
          after: value,
        };
      },
      idem,
    );
  }

  async update(
    p: Principal,
    poolId: string,
    id: string,
    input: BackendUpdate,
    ifMatch?: number,
  ): Promise<BackendDto> {
    const { value } = await this.changes.apply(p, async (r) => {
      const cur = await r.backends.find(p.tenantId, poolId, id);
      if (!cur) throw AppError.notFound('backend');
      checkVersion(ifMatch, cur.version);
      const row = await mapWrite(r.backends.update(p.tenantId, poolId, id, cur.version, input), {
        unique: new AppError(ErrorCode.Conflict, 'another backend of this pool has this address and port'),
        missing: stale(),
      });
      const value = mapBackend(row);
      return {
        value,
        action: 'backend.update',
        resourceType: 'backend',
        resourceId: id,
        before: mapBackend(cur),
        after: value,
      };
    });
    return value;
  }

  async delete(p: Principal, poolId: string, id: string, ifMatch?: number): Promise<void> {
    await this.changes.apply(p, async (r) => {
      const cur = await r.backends.find(p.tenantId, poolId, id);
      if (!cur) throw AppError.notFound('backend');
      checkVersion(ifMatch, cur.version);
      await r.backends.delete(p.tenantId, poolId, id);
      return {
        value: null,
        action: 'backend.delete',
        resourceType: 'backend',
        resourceId: id,
        before: mapBackend(cur),
        after: null,
      };
    });
  }
}

const duplicateVip = (v: { address: string; protocol: string; port: number }) =>
  new AppError(ErrorCode.DuplicateVip, `a VIP already listens on ${v.address} ${v.protocol}/${v.port}`);

export class VipService {
  constructor(
    private readonly db: Database,
    private readonly changes: ChangeRunner,
  ) {}

  async list(p: Principal, q: PageQuery): Promise<Page<VipDto>> {
    const page = await this.db.repos.vips.list(p.tenantId, pageRequest(q));
    return { items: page.items.map(mapVip), nextCursor: encodeCursor(page.nextAfter) };
  }

  async get(p: Principal, id: string): Promise<VipDto> {
    const row = await this.db.repos.vips.find(p.tenantId, id);
    if (!row) throw AppError.notFound('VIP');
    return mapVip(row);
  }

  /** The listener check is also a unique index; checking first gives the precise error without a rollback. */
  private async checkListener(
    r: Repos,
    tenantId: string,
    v: Pick<Vip, 'address' | 'protocol' | 'port'>,
    self?: string,
  ) {
    const other = await r.vips.findByListener(tenantId, v.address, v.protocol, v.port);
    if (other && other.id !== self) throw duplicateVip(v);
  }

  async create(p: Principal, input: VipCreate, idem?: IdempotencyRequest): Promise<Applied<VipDto>> {
    return this.changes.apply(
      p,
      async (r) => {
        if (!(await r.pools.find(p.tenantId, input.poolId))) throw AppError.notFound('pool');
        await this.checkListener(r, p.tenantId, input);
        const row = await mapWrite(
          r.vips.create(p.tenantId, {
            name: input.name,
            address: input.address,
            protocol: input.protocol,
            port: input.port,
            poolId: input.poolId,
            distribution: distributionToDb(input.distribution),
            idleTimeoutS: input.idleTimeoutS,
            ...bypassColumns({ ...BYPASS_DEFAULTS, ...input.bypass }),
          }),
          {
            unique: new AppError(
              ErrorCode.Conflict,
              `a VIP named ${input.name} or on this listener already exists`,
            ),
          },
        );
        const value = mapVip(row);
        return {
          value,
          action: 'vip.create',
          resourceType: 'vip',
          resourceId: row.id,
          before: null,
          after: value,
        };
      },
      idem,
    );
  }

  async update(p: Principal, id: string, input: VipUpdate, ifMatch?: number): Promise<VipDto> {
    const { value } = await this.changes.apply(p, async (r) => {
      const cur = await r.vips.find(p.tenantId, id);
      if (!cur) throw AppError.notFound('VIP');
      checkVersion(ifMatch, cur.version);
      if (input.poolId !== undefined && !(await r.pools.find(p.tenantId, input.poolId))) {
        throw AppError.notFound('pool');
      }
      const before = mapVip(cur);
      const listener = {
        address: input.address ?? cur.address,
        protocol: input.protocol ?? cur.protocol,
        port: input.port ?? cur.port,
      };
      await this.checkListener(r, p.tenantId, listener, id);
      const row = await mapWrite(
        r.vips.update(p.tenantId, id, cur.version, {
          ...(input.name !== undefined ? { name: input.name } : {}),
          ...listener,
          ...(input.poolId !== undefined ? { poolId: input.poolId } : {}),
          ...(input.distribution !== undefined ? { distribution: distributionToDb(input.distribution) } : {}),
          ...(input.idleTimeoutS !== undefined ? { idleTimeoutS: input.idleTimeoutS } : {}),
          ...bypassColumns({ ...before.bypass, ...input.bypass }),
        }),
        {
          unique: new AppError(ErrorCode.Conflict, 'another VIP has this name or listener'),
          missing: stale(),
        },
      );
      const value = mapVip(row);
      return { value, action: 'vip.update', resourceType: 'vip', resourceId: id, before, after: value };
    });
    return value;
  }

  async delete(p: Principal, id: string, ifMatch?: number): Promise<void> {
    await this.changes.apply(p, async (r) => {
      const cur = await r.vips.find(p.tenantId, id);
      if (!cur) throw AppError.notFound('VIP');
      checkVersion(ifMatch, cur.version);
      await r.vips.delete(p.tenantId, id);
      return {
        value: null,
        action: 'vip.delete',
        resourceType: 'vip',
        resourceId: id,
        before: mapVip(cur),
        after: null,
      };
    });
  }
}
