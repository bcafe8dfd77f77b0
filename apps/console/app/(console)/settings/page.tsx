import { RotateBypassKeyForm } from '../../../components/forms/AdminForms';
import { api, canAdmin, getMe, read } from '../../../lib/api';
import { apiUrl } from '../../../lib/config';
import { fmtTime } from '../../../lib/format';

export const metadata = { title: 'Settings · Slipstream' };

export default async function SettingsPage() {
  const me = await getMe();
  const client = await api();
  const [keys, tenants] = await Promise.all([
    read(client.GET('/v1/bypass-keys')),
    read(client.GET('/v1/auth/tenants')),
  ]);
  const rotating = keys.items.some((k) => k.state === 'previous');
  return (
    <>
      <div className="page-head">
        <div>
          <h1>Settings</h1>
          <p>Tenant-wide settings.</p>
        </div>
      </div>
      <div className="card">
        <h2>Tenant</h2>
        <dl className="kv">
          <dt>Name</dt>
          <dd>{me.tenantName}</dd>
          <dt>Tenant id</dt>
          <dd className="mono">{me.tenantId}</dd>
          <dt>Config revision</dt>
          <dd className="mono">{me.configRevision}</dd>
          <dt>Your role</dt>
          <dd>{me.role}</dd>
          <dt>API</dt>
          <dd className="mono">{apiUrl()}/v1</dd>
        </dl>
      </div>
      {tenants.items.length > 1 ? (
        <div className="card">
          <h2>Your organisations</h2>
          <p className="muted">
            To open another one, log out and log in with its tenant id under &ldquo;Member of several
            organisations?&rdquo;.
          </p>
          <div className="table-wrap">
            <table className="stack" data-testid="tenant-list">
              <thead>
                <tr>
                  <th>Name</th>
                  <th>Your role</th>
                  <th>Tenant id</th>
                </tr>
              </thead>
              <tbody>
                {tenants.items.map((t) => (
                  <tr key={t.tenantId}>
                    <td data-label="Name">
                      {t.tenantName} {t.current ? <span className="badge ok">current</span> : null}
                    </td>
                    <td data-label="Your role">{t.role}</td>
                    <td data-label="Tenant id" className="mono">
                      {t.tenantId}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        </div>
      ) : null}
      <div className="card">
        <h2>Redirect key rotation</h2>
        <p className="muted">
          Every bypass redirect is signed with HMAC-SHA256 under a per-tenant key that the control plane hands
          to the agents; rotation keeps the old key valid for an overlap so flows in progress are not dropped.
        </p>
        {keys.items.length === 0 ? (
          <div className="empty">
            <strong>No redirect key yet</strong>
            The first key is created when the first agent enrolls.
          </div>
        ) : (
          <div className="table-wrap">
            <table className="stack" data-testid="bypass-key-list">
              <thead>
                <tr>
                  <th>Key id</th>
                  <th>State</th>
                  <th>Since revision</th>
                  <th>Created</th>
                  <th>Retired</th>
                </tr>
              </thead>
              <tbody>
                {keys.items.map((k) => (
                  <tr key={k.keyId}>
                    <td data-label="Key id" className="mono">
                      {k.keyId}
                    </td>
                    <td data-label="State">
                      <span
                        className={`badge ${k.state === 'active' ? 'ok' : k.state === 'previous' ? 'warn' : ''}`}
                      >
                        {k.state}
                      </span>
                    </td>
                    <td data-label="Since revision" className="mono">
                      {k.revision}
                    </td>
                    <td data-label="Created">{fmtTime(k.createdAt)}</td>
                    <td data-label="Retired">{fmtTime(k.retiredAt)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
        {rotating ? (
          <p className="notice warn" data-testid="rotation-in-progress">
            A rotation is in progress: the previous key stays valid until every agent has applied the new one.
          </p>
        ) : null}
        {canAdmin(me.role) && !rotating ? <RotateBypassKeyForm /> : null}
      </div>
    </>
  );
}
