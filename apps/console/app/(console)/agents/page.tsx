import { randomUUID } from 'node:crypto';
import { AutoRefresh } from '../../../components/AutoRefresh';
import { AddAgentForm, RevokeAgentButton } from '../../../components/forms/AdminForms';
import { api, canAdmin, getMe, read } from '../../../lib/api';
import { installCommandTemplate } from '../../../lib/config';
import { fmtTime } from '../../../lib/format';

export const metadata = { title: 'Agents · Slipstream' };

const STATUS_TONE: Record<string, string> = { online: 'ok', pending: 'warn', offline: 'bad' };

function revisionBadge(desired: number | null, applied: number | null): { tone: string; text: string } {
  if (desired === null) return { tone: '', text: 'no config yet' };
  if (applied === null || applied < desired) return { tone: 'warn', text: 'converging' };
  return { tone: 'ok', text: 'in sync' };
}

export default async function AgentsPage() {
  const me = await getMe();
  const admin = canAdmin(me.role);
  const agents = await read((await api()).GET('/v1/agents', { params: { query: { limit: 200 } } }));
  return (
    <>
      <div className="page-head">
        <div>
          <h1>Agents</h1>
          <p>
            Host and mux agents of this tenant. Desired revision is the config revision compiled for the agent
            (tenant revision <span className="mono">{me.configRevision}</span>); applied is the one it
            acknowledged.
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
                  <th>Agent</th>
                  <th>Status</th>
                  <th>Version</th>
                  <th>Desired / applied</th>
                  <th>Last error</th>
                  {admin ? <th /> : null}
                </tr>
              </thead>
              <tbody>
                {agents.items.map((a) => {
                  const rev = revisionBadge(a.desiredRevision, a.appliedRevision);
                  const revoked = a.revokedAt !== null;
                  return (
                    <tr key={a.id} data-agent={a.name}>
                      <td data-label="Agent">
                        {a.name} <span className="badge">{a.role}</span>
                        {a.hostname ? <div className="muted mono">{a.hostname}</div> : null}
                        {a.underlayAddress ? <div className="muted mono">{a.underlayAddress}</div> : null}
                      </td>
                      <td data-label="Status">
                        {revoked ? (
                          <span className="badge bad" title={`Revoked ${fmtTime(a.revokedAt)}`}>
                            revoked
                          </span>
                        ) : (
                          <>
                            <span className={`badge ${STATUS_TONE[a.status] ?? ''}`}>{a.status}</span>{' '}
                            <span className={`badge ${a.connected ? 'ok' : ''}`}>
                              {a.connected ? 'connected' : 'not connected'}
                            </span>
                          </>
                        )}
                        <div className="muted" title={fmtTime(a.lastSeenAt)}>
                          seen {a.lastSeenAt ? fmtTime(a.lastSeenAt).slice(11) : 'never'}
                        </div>
                      </td>
                      <td data-label="Version" className="mono">
                        {a.agentVersion ?? '—'}
                      </td>
                      <td data-label="Desired / applied">
                        <span className="mono">
                          {a.desiredRevision ?? '—'} / {a.appliedRevision ?? '—'}
                        </span>{' '}
                        {revoked ? null : <span className={`badge ${rev.tone}`}>{rev.text}</span>}
                      </td>
                      <td
                        data-label="Last error"
                        className={`wrap ${a.lastError ? 'mono' : 'muted'}`}
                        style={{ minWidth: 160, maxWidth: 260 }}
                      >
                        {a.lastError ?? 'none'}
                      </td>
                      {admin ? (
                        <td>{revoked ? null : <RevokeAgentButton id={a.id} name={a.name} />}</td>
                      ) : null}
                    </tr>
                  );
                })}
              </tbody>
            </table>
          </div>
        )}
      </div>
      {admin ? (
        <div className="card">
          <h2>Add agent</h2>
          <p className="muted">Creates a join token for one agent; the token is shown once.</p>
          <AddAgentForm idem={randomUUID()} installTemplate={installCommandTemplate()} />
        </div>
      ) : null}
    </>
  );
}
