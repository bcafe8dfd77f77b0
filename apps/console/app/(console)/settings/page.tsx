import { getMe } from '../../../lib/api';
import { apiUrl } from '../../../lib/config';

export const metadata = { title: 'Settings · Slipstream' };

export default async function SettingsPage() {
  const me = await getMe();
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
      <div className="card">
        <h2>Redirect key rotation</h2>
        <p className="muted">
          Every bypass redirect is signed with HMAC-SHA256 under a per-tenant key that the control plane hands
          to the agents; rotation keeps the old key valid for an overlap so flows in progress are not dropped.
        </p>
        <div className="notice warn" data-testid="redirect-keys-pending">
          Redirect keys are created and distributed with agent enrollment (issue #4); the API has no
          redirect-key endpoint yet, so there is nothing to rotate here.
        </div>
      </div>
    </>
  );
}
