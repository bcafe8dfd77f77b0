import { Logger } from '@nestjs/common';
import { vi } from 'vitest';
import type { Principal } from '../../src/common/principal.js';
import type { Database, Repos } from '../../src/repositories/index.js';
import { ChangeRunner } from '../../src/services/change-runner.js';
import type { ConfigChangedPublisher } from '../../src/services/publisher.js';

// Unit tests provoke logged failures on purpose (e.g. a failing publisher); keep the output clean.
Logger.overrideLogger(false);

export type DeepPartial<T> = { [K in keyof T]?: Partial<T[K]> };

export const owner: Principal = {
  tenantId: '11111111-1111-4111-8111-111111111111',
  role: 'owner',
  actorType: 'user',
  actorId: '22222222-2222-4222-8222-222222222222',
  email: 'o@example.test',
};

/** A database whose repositories are the given fakes; a transaction just runs on them. */
export function fakeDb(repos: DeepPartial<Repos>) {
  let revision = 0n;
  const base = {
    tenants: { bumpRevision: vi.fn(async () => ++revision) },
    audit: { append: vi.fn(async () => {}) },
    idempotency: { find: vi.fn(async () => null), store: vi.fn(async () => {}) },
  };
  const all = { ...base, ...repos, tenants: { ...base.tenants, ...repos.tenants } } as unknown as Repos;
  const db: Database = { repos: all, transaction: vi.fn(async (fn) => fn(all)) };
  const publisher: ConfigChangedPublisher = { publish: vi.fn(async () => {}), close: vi.fn(async () => {}) };
  return { db, repos: all, publisher, runner: new ChangeRunner(db, publisher) };
}
