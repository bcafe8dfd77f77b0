import Link from 'next/link';
import { VipLive } from '../../../../components/LivePanel';
import { BypassPolicyForm, DeleteVipButton, EditVipForm } from '../../../../components/forms/VipForms';
import { api, canOperate, getMe, read, readWithEtag } from '../../../../lib/api';
import { HealthBadge } from '../../../../components/HealthBadge';

export const metadata = { title: 'VIP · Slipstream' };

const STATE_TONE: Record<string, string> = { active: 'ok', draining: 'warn', disabled: '' };

export default async function VipPage({
  params,
  searchParams,
}: {
  params: Promise<{ id: string }>;
  searchParams: Promise<Record<string, string | undefined>>;
}) {
  const { id } = await params;
  const q = await searchParams;
  const me = await getMe();
  const client = await api();
  const { data: vip, etag } = await readWithEtag(client.GET('/v1/vips/{id}', { params: { path: { id } } }));
  const [pools, backends] = await Promise.all([
    read(client.GET('/v1/pools', { params: { query: { limit: 200 } } })),
    read(
      client.GET('/v1/pools/{poolId}/backends', {
        params: { path: { poolId: vip.poolId }, query: { limit: 200 } },
      }),
    ),
  ]);
  const pool = pools.items.find((p) => p.id === vip.poolId);
  const edit = canOperate(me.role);
  return (
    <>
      <div className="page-head">
        <div>
          <h1>{vip.name}</h1>
          <p>
            <Link href="/vips">← VIPs</Link> ·{' '}
            <span className="mono">{`${vip.address}:${vip.port}/${vip.protocol}`}</span> · bypass{' '}
            <span className={`badge ${vip.bypass.enabled ? 'ok' : ''}`}>
              {vip.bypass.enabled ? 'on' : 'off'}
            </span>
          </p>
        </div>
        {edit ? <DeleteVipButton id={vip.id} /> : null}
      </div>
      {q.created ? (
        <p className="notice ok" role="status">
          VIP created.
        </p>
      ) : null}
      <h2>Live</h2>
      <VipLive vipId={vip.id} />

      <div className="card">
        <h2>Pool members {pool ? <Link href={`/pools/${pool.id}`}>({pool.name})</Link> : null}</h2>
        {backends.items.length === 0 ? (
          <div className="empty">
            <strong>This pool has no backends</strong>
            Traffic to this VIP has nowhere to go.{' '}
            {pool ? <Link href={`/pools/${pool.id}`}>Add backends</Link> : null}
          </div>
        ) : (
          <div className="table-wrap">
            <table>
              <thead>
                <tr>
                  <th>Backend</th>
                  <th>Weight</th>
                  <th>State</th>
                  <th>Health</th>
                </tr>
              </thead>
              <tbody>
                {backends.items.map((b) => (
                  <tr key={b.id}>
                    <td className="mono">
                      {b.address}:{b.port}
                    </td>
                    <td>{b.weight}</td>
                    <td>
                      <span className={`badge ${STATE_TONE[b.state] ?? ''}`}>{b.state}</span>
                    </td>
                    <td>
                      <HealthBadge health={b.health} checkedAt={b.healthCheckedAt} />
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </div>

      <div className="grid">
        <div className="card">
          <h2>Settings</h2>
          {edit ? (
            <EditVipForm vip={vip} etag={etag} pools={pools.items.map((p) => ({ id: p.id, name: p.name }))} />
          ) : (
            <dl className="kv">
              <dt>Address</dt>
              <dd className="mono">{vip.address}</dd>
              <dt>Protocol / port</dt>
              <dd>
                {vip.protocol} / {vip.port}
              </dd>
              <dt>Pool</dt>
              <dd>{pool?.name ?? vip.poolId}</dd>
              <dt>Distribution</dt>
              <dd>{vip.distribution}</dd>
              <dt>Idle timeout</dt>
              <dd>{vip.idleTimeoutS} s</dd>
            </dl>
          )}
        </div>
        <div className="card">
          <h2>Bypass policy</h2>
          {edit ? (
            <BypassPolicyForm vip={vip} etag={etag} />
          ) : (
            <dl className="kv">
              <dt>Enabled</dt>
              <dd>{vip.bypass.enabled ? 'yes' : 'no'}</dd>
              <dt>Allowed sources</dt>
              <dd className="mono">
                {vip.bypass.sourceCidrs.length ? vip.bypass.sourceCidrs.join(', ') : 'any'}
              </dd>
              <dt>Max flows per host</dt>
              <dd>{vip.bypass.maxFlowsPerHost}</dd>
              <dt>Idle timeout</dt>
              <dd>{vip.bypass.idleTimeoutS} s</dd>
              <dt>Handshake hold</dt>
              <dd>{vip.bypass.handshakeHoldMs > 0 ? `${vip.bypass.handshakeHoldMs} ms` : 'off'}</dd>
            </dl>
          )}
        </div>
      </div>
    </>
  );
}
