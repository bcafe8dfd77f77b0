import { randomUUID } from 'node:crypto';
import { CreateApiKeyForm, RevokeApiKeyButton } from '../../../components/forms/AdminForms';
import { api, canAdmin, getMe, read } from '../../../lib/api';
import { fmtTime } from '../../../lib/format';

export const metadata = { title: 'API keys · Slipstream' };

export default async function ApiKeysPage() {
  const me = await getMe();
  const admin = canAdmin(me.role);
  // The API lists keys to admins only; others get a plain explanation instead of an error page.
  if (!admin)
    return (
      <>
        <div className="page-head">
          <div>
            <h1>API keys</h1>
          </div>
        </div>
        <div className="card empty" data-testid="admin-only">
          <strong>Only admins and owners manage API keys</strong>
          Your role is {me.role}. Ask an admin of {me.tenantName} for a key.
        </div>
      </>
    );
  const keys = await read((await api()).GET('/v1/api-keys', { params: { query: { limit: 200 } } }));
  return (
    <>
      <div className="page-head">
        <div>
          <h1>API keys</h1>
          <p>
            For scripts, CI and Terraform. Send as{' '}
            <span className="mono">Authorization: Bearer &lt;key&gt;</span>.
          </p>
        </div>
      </div>
      {admin ? (
        <div className="card">
          <h2>New API key</h2>
          <CreateApiKeyForm idem={randomUUID()} />
        </div>
      ) : null}
      <div className="card">
        {keys.items.length === 0 ? (
          <div className="empty">
            <strong>No API keys</strong>
            {admin ? 'Create one above; its secret is shown once.' : 'An admin can create keys.'}
          </div>
        ) : (
          <div className="table-wrap">
            <table className="stack" data-testid="api-key-list">
              <thead>
                <tr>
                  <th>Name</th>
                  <th>Prefix</th>
                  <th>Role</th>
                  <th>Created</th>
                  <th>Expires</th>
                  <th>Last used</th>
                  <th>Status</th>
                  {admin ? <th /> : null}
                </tr>
              </thead>
              <tbody>
                {keys.items.map((k) => (
                  <tr key={k.id}>
                    <td data-label="Name">{k.name}</td>
                    <td data-label="Prefix" className="mono">
                      {k.prefix}…
                    </td>
                    <td data-label="Role">{k.role}</td>
                    <td data-label="Created">{fmtTime(k.createdAt)}</td>
                    <td data-label="Expires">{k.expiresAt ? fmtTime(k.expiresAt) : 'never'}</td>
                    <td data-label="Last used">{fmtTime(k.lastUsedAt)}</td>
                    <td data-label="Status">
                      {k.revokedAt ? (
                        <span className="badge bad">revoked</span>
                      ) : (
                        <span className="badge ok">active</span>
                      )}
                    </td>
                    {admin ? <td>{k.revokedAt ? null : <RevokeApiKeyButton id={k.id} />}</td> : null}
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </div>
    </>
  );
}
