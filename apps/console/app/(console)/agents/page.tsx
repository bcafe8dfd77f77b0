import { randomUUID } from 'node:crypto';
import { AutoRefresh } from '../../../components/AutoRefresh';
import { AddAgentForm } from '../../../components/forms/AdminForms';
import { api, canAdmin, getMe, read } from '../../../lib/api';
import { installCommandTemplate } from '../../../lib/config';
import { fmtTime } from '../../../lib/format';

export const metadata = { title: 'Agents · Slipstream' };

const STATUS_TONE: Record<string, string> = { online: 'ok', pending: 'warn', offline: 'bad' };

export default async function AgentsPage() {
  const me = await getMe();
  const agents = await read((await api()).GET('/v1/agents', { params: { query: { limit: 200 } } }));
  return (
    <>
      <div className="page-head">
        <div>
          <h1>Agents</h1>
          <p>
            Host and mux agents of this tenant. Desired revision is the tenant&apos;s config revision (
            <span className="mono">{me.configRevision}</span>).
          </p>
        </div>
      </div>
      <AutoRefresh ms={5000} />
      <div className="card">
        {agents.items.length === 0 ? (
          <div className="empty">
            <strong>No agents yet</strong>
            Agents appear here once a host enrolls with a join token.
          </div>
        ) : (
          <div className="table-wrap">
            <table className="stack" data-testid="agent-list">
              <thead>
                <tr>
                  <th>Name</th>
                  <th>Role</th>
                  <th>Status</th>
                  <th>Version</th>
                  <th>Desired / applied revision</th>
                  <th>Last seen</th>
                  <th>Last error</th>
                </tr>
              </thead>
              <tbody>
                {agents.items.map((a) => {
                  const behind = a.appliedRevision === null || a.appliedRevision < me.configRevision;
                  return (
                    <tr key={a.id}>
                      <td data-label="Name">
                        {a.name}
                        {a.hostname ? <div className="muted mono">{a.hostname}</div> : null}
                      </td>
                      <td data-label="Role">{a.role}</td>
                      <td data-label="Status">
                        <span className={`badge ${STATUS_TONE[a.status] ?? ''}`}>{a.status}</span>
                      </td>
                      <td data-label="Version" className="mono">
                        {a.agentVersion ?? '—'}
                      </td>
                      <td data-label="Desired / applied">
                        {me.configRevision} / {a.appliedRevision ?? '—'}{' '}
                        <span className={`badge ${behind ? 'warn' : 'ok'}`}>
                          {behind ? 'converging' : 'in sync'}
                        </span>
                      </td>
                      <td data-label="Last seen">{fmtTime(a.lastSeenAt)}</td>
                      <td
                        data-label="Last error"
                        className="muted"
                        title="Agents report errors with enrollment (issue #4)"
                      >
                        not reported
                      </td>
                    </tr>
                  );
                })}
              </tbody>
            </table>
          </div>
        )}
      </div>
      {canAdmin(me.role) ? (
        <div className="card">
          <h2>Add agent</h2>
          <p className="muted">Creates a join token for one agent; the token is shown once.</p>
          <AddAgentForm idem={randomUUID()} installTemplate={installCommandTemplate()} />
        </div>
      ) : null}
    </>
  );
}
