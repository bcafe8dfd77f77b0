import Link from 'next/link';
import { api, canOperate, getMe, read } from '../../../lib/api';

export const metadata = { title: 'VIPs · Slipstream' };

export default async function VipsPage({
  searchParams,
}: {
  searchParams: Promise<Record<string, string | undefined>>;
}) {
  const q = await searchParams;
  const me = await getMe();
  const client = await api();
  const [vips, pools] = await Promise.all([
    read(
      client.GET('/v1/vips', { params: { query: { limit: 50, ...(q.cursor ? { cursor: q.cursor } : {}) } } }),
    ),
    read(client.GET('/v1/pools', { params: { query: { limit: 200 } } })),
  ]);
  const poolName = new Map(pools.items.map((p) => [p.id, p.name]));
  return (
    <>
      <div className="page-head">
        <div>
          <h1>VIPs</h1>
          <p>Virtual IPs that clients connect to; each sends its flows to a pool of backends.</p>
        </div>
        {canOperate(me.role) ? (
          <Link className="btn" href="/vips/new">
            New VIP
          </Link>
        ) : null}
      </div>
      {q.deleted ? (
        <p className="notice ok" role="status">
          VIP deleted.
        </p>
      ) : null}
      <div className="card">
        {vips.items.length === 0 ? (
          <div className="empty">
            <strong>No VIPs yet</strong>
            {canOperate(me.role)
              ? pools.items.length === 0
                ? 'Create a pool with backends first, then a VIP in front of it.'
                : 'Create a VIP to start balancing traffic.'
              : 'Nothing is configured for this tenant yet.'}
          </div>
        ) : (
          <div className="table-wrap">
            <table data-testid="vip-list">
              <thead>
                <tr>
                  <th>Name</th>
                  <th>Address</th>
                  <th>Pool</th>
                  <th>Distribution</th>
                  <th>Idle timeout</th>
                  <th>Bypass</th>
                </tr>
              </thead>
              <tbody>
                {vips.items.map((v) => (
                  <tr key={v.id}>
                    <td>
                      <Link href={`/vips/${v.id}`}>{v.name}</Link>
                    </td>
                    <td className="mono">
                      {v.address}:{v.port}/{v.protocol}
                    </td>
                    <td>
                      <Link href={`/pools/${v.poolId}`}>
                        {poolName.get(v.poolId) ?? v.poolId.slice(0, 8)}
                      </Link>
                    </td>
                    <td>{v.distribution}</td>
                    <td>{v.idleTimeoutS} s</td>
                    <td>
                      <span className={`badge ${v.bypass.enabled ? 'ok' : ''}`}>
                        {v.bypass.enabled ? 'on' : 'off'}
                      </span>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
        {vips.nextCursor ? (
          <p>
            <Link href={`/vips?cursor=${encodeURIComponent(vips.nextCursor)}`}>Next page →</Link>
          </p>
        ) : null}
      </div>
    </>
  );
}
