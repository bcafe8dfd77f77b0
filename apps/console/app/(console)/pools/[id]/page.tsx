import { randomUUID } from 'node:crypto';
import Link from 'next/link';
import {
  AddBackendForm,
  BackendRowForm,
  DeletePoolButton,
  EditPoolForm,
  RemoveBackendButton,
} from '../../../../components/forms/PoolForms';
import { api, canOperate, getMe, read, readWithEtag } from '../../../../lib/api';
import { HealthBadge } from '../../../../components/HealthBadge';

export const metadata = { title: 'Pool · Slipstream' };

const STATE_TONE: Record<string, string> = { active: 'ok', draining: 'warn', disabled: '' };

export default async function PoolPage({
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
  const { data: pool, etag } = await readWithEtag(client.GET('/v1/pools/{id}', { params: { path: { id } } }));
  const backends = await read(
    client.GET('/v1/pools/{poolId}/backends', { params: { path: { poolId: id }, query: { limit: 200 } } }),
  );
  const edit = canOperate(me.role);
  return (
    <>
      <div className="page-head">
        <div>
          <h1>{pool.name}</h1>
          <p>
            <Link href="/pools">← Pools</Link> · {backends.items.length} backend
            {backends.items.length === 1 ? '' : 's'}
          </p>
        </div>
        {edit ? <DeletePoolButton id={pool.id} /> : null}
      </div>
      {q.created ? (
        <p className="notice ok" role="status">
          Pool created. Add its backends below.
        </p>
      ) : null}
      <div className="card">
        <h2>Backends</h2>
        {backends.items.length === 0 ? (
          <div className="empty">
            <strong>No backends yet</strong>
            {edit ? 'Add the servers that receive this pool’s traffic below.' : 'None configured.'}
          </div>
        ) : (
          <div className="table-wrap">
            <table data-testid="backend-list">
              <thead>
                <tr>
                  <th>Backend</th>
                  <th>Weight</th>
                  <th>State</th>
                  <th>Health</th>
                  {edit ? <th>Change weight / state</th> : null}
                  {edit ? <th /> : null}
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
                    {edit ? (
                      <td>
                        <BackendRowForm b={b} />
                      </td>
                    ) : null}
                    {edit ? (
                      <td>
                        <RemoveBackendButton poolId={pool.id} id={b.id} />
                      </td>
                    ) : null}
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </div>
      {edit ? (
        <div className="card">
          <h2>Add backend</h2>
          <AddBackendForm poolId={pool.id} idem={randomUUID()} />
        </div>
      ) : null}
      <div className="card">
        <h2>Pool settings and health probe</h2>
        {edit ? (
          <EditPoolForm id={pool.id} name={pool.name} probe={pool.healthProbe} etag={etag} />
        ) : (
          <dl className="kv">
            <dt>Protocol</dt>
            <dd>{pool.healthProbe.protocol}</dd>
            <dt>Port</dt>
            <dd>{pool.healthProbe.port ?? 'backend port'}</dd>
            <dt>Path</dt>
            <dd>{pool.healthProbe.path ?? '—'}</dd>
            <dt>Interval / timeout</dt>
            <dd>
              {pool.healthProbe.intervalMs} / {pool.healthProbe.timeoutMs} ms
            </dd>
            <dt>Thresholds</dt>
            <dd>
              healthy after {pool.healthProbe.healthyThreshold}, unhealthy after{' '}
              {pool.healthProbe.unhealthyThreshold}
            </dd>
          </dl>
        )}
      </div>
    </>
  );
}
