import { randomUUID } from 'node:crypto';
import Link from 'next/link';
import { CreatePoolForm } from '../../../components/forms/PoolForms';
import { api, canOperate, getMe, read } from '../../../lib/api';

export const metadata = { title: 'Pools · Slipstream' };

export default async function PoolsPage({
  searchParams,
}: {
  searchParams: Promise<Record<string, string | undefined>>;
}) {
  const q = await searchParams;
  const me = await getMe();
  const pools = await read(
    (await api()).GET('/v1/pools', {
      params: { query: { limit: 50, ...(q.cursor ? { cursor: q.cursor } : {}) } },
    }),
  );
  return (
    <>
      <div className="page-head">
        <div>
          <h1>Pools</h1>
          <p>Groups of backends with a health probe; a VIP sends its flows to one pool.</p>
        </div>
      </div>
      {q.deleted ? (
        <p className="notice ok" role="status">
          Pool deleted.
        </p>
      ) : null}
      <div className="card">
        {pools.items.length === 0 ? (
          <div className="empty">
            <strong>No pools yet</strong>
            {canOperate(me.role) ? 'Create one below, then add its backends.' : 'Nothing is configured yet.'}
          </div>
        ) : (
          <div className="table-wrap">
            <table data-testid="pool-list">
              <thead>
                <tr>
                  <th>Name</th>
                  <th>Probe</th>
                  <th>Interval / timeout</th>
                  <th>Thresholds (up / down)</th>
                </tr>
              </thead>
              <tbody>
                {pools.items.map((p) => (
                  <tr key={p.id}>
                    <td>
                      <Link href={`/pools/${p.id}`}>{p.name}</Link>
                    </td>
                    <td className="mono">
                      {p.healthProbe.protocol}
                      {p.healthProbe.port ? `:${p.healthProbe.port}` : ''}
                      {p.healthProbe.path ?? ''}
                    </td>
                    <td>
                      {p.healthProbe.intervalMs} / {p.healthProbe.timeoutMs} ms
                    </td>
                    <td>
                      {p.healthProbe.healthyThreshold} / {p.healthProbe.unhealthyThreshold}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
        {pools.nextCursor ? (
          <p>
            <Link href={`/pools?cursor=${encodeURIComponent(pools.nextCursor)}`}>Next page →</Link>
          </p>
        ) : null}
      </div>
      {canOperate(me.role) ? (
        <div className="card">
          <h2>New pool</h2>
          <CreatePoolForm idem={randomUUID()} />
        </div>
      ) : null}
    </>
  );
}
