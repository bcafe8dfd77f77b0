import Link from 'next/link';
import { api, read } from '../../../lib/api';
import { fmtTime } from '../../../lib/format';

export const metadata = { title: 'Audit log · Slipstream' };

const RESOURCE_TYPES = [
  '',
  'vip',
  'pool',
  'backend',
  'apiKey',
  'member',
  'joinToken',
  'agent',
  'bypassKey',
  'tenant',
];

/** Only the fields that changed, so a long VIP body does not hide the one edit. */
function changes(before: unknown, after: unknown): string {
  const b = (before && typeof before === 'object' ? before : {}) as Record<string, unknown>;
  const a = (after && typeof after === 'object' ? after : {}) as Record<string, unknown>;
  const keys = [...new Set([...Object.keys(b), ...Object.keys(a)])].filter(
    (k) =>
      !['version', 'updatedAt', 'createdAt'].includes(k) && JSON.stringify(b[k]) !== JSON.stringify(a[k]),
  );
  if (!before) return 'created';
  if (!after) return 'deleted';
  return (
    keys.map((k) => `${k}: ${JSON.stringify(b[k]) ?? '—'} → ${JSON.stringify(a[k]) ?? '—'}`).join('; ') ||
    'no field change'
  );
}

export default async function AuditPage({
  searchParams,
}: {
  searchParams: Promise<Record<string, string | undefined>>;
}) {
  const q = await searchParams;
  const filter = {
    ...(q.resourceType ? { resourceType: q.resourceType } : {}),
    ...(q.action ? { action: q.action.trim() } : {}),
    ...(q.actorId ? { actorId: q.actorId.trim() } : {}),
  };
  // The API filters (exact matches), so every page of older entries is filtered the same way.
  const page = await read(
    (await api()).GET('/v1/audit-log', {
      params: { query: { limit: 200, ...filter, ...(q.cursor ? { cursor: q.cursor } : {}) } },
    }),
  );
  const items = page.items;
  const next = new URLSearchParams({ ...filter, ...(page.nextCursor ? { cursor: page.nextCursor } : {}) });
  return (
    <>
      <div className="page-head">
        <div>
          <h1>Audit log</h1>
          <p>Every change: who, what, before and after, and the config revision it produced.</p>
        </div>
      </div>
      <div className="card">
        <form className="form" method="get" aria-label="Filter audit log">
          <div className="field">
            <label htmlFor="f-resourceType">Resource type</label>
            <select id="f-resourceType" name="resourceType" defaultValue={q.resourceType ?? ''}>
              {RESOURCE_TYPES.map((t) => (
                <option key={t} value={t}>
                  {t || 'any'}
                </option>
              ))}
            </select>
          </div>
          <div className="field">
            <label htmlFor="f-action">Action</label>
            <input
              id="f-action"
              name="action"
              defaultValue={q.action ?? ''}
              placeholder="vip.update (exact)"
            />
          </div>
          <div className="field">
            <label htmlFor="f-actorId">Actor id</label>
            <input
              id="f-actorId"
              name="actorId"
              defaultValue={q.actorId ?? ''}
              placeholder="user or API key id"
            />
          </div>
          <div className="actions" style={{ alignSelf: 'end' }}>
            <button type="submit" className="btn secondary">
              Filter
            </button>
            {Object.keys(filter).length ? <Link href="/audit">Clear</Link> : null}
          </div>
        </form>
      </div>
      <div className="card">
        {items.length === 0 ? (
          <div className="empty">
            <strong>No entries</strong>
            {Object.keys(filter).length
              ? 'Nothing matches this filter.'
              : 'Changes to this tenant will be listed here.'}
          </div>
        ) : (
          <div className="table-wrap">
            <table className="stack" data-testid="audit-list">
              <thead>
                <tr>
                  <th>When</th>
                  <th>Actor</th>
                  <th>Action</th>
                  <th>Resource</th>
                  <th>Rev.</th>
                  <th>Change</th>
                </tr>
              </thead>
              <tbody>
                {items.map((e) => (
                  <tr key={e.id}>
                    <td data-label="When">{fmtTime(e.at)}</td>
                    <td data-label="Actor">
                      {e.actor.type}
                      {e.actor.id ? (
                        <Link
                          className="muted mono"
                          href={`/audit?${new URLSearchParams({ actorId: e.actor.id }).toString()}`}
                          title={`Only changes by ${e.actor.id}`}
                        >
                          {' '}
                          {e.actor.id.slice(0, 8)}
                        </Link>
                      ) : null}
                    </td>
                    <td data-label="Action" className="mono">
                      {e.action}
                    </td>
                    <td data-label="Resource">
                      {e.resourceType}
                      {e.resourceId ? <span className="muted mono"> {e.resourceId.slice(0, 8)}</span> : null}
                    </td>
                    <td data-label="Revision" className="mono">
                      {e.revision}
                    </td>
                    <td data-label="Change" className="wrap mono" style={{ minWidth: 260 }}>
                      {changes(e.before, e.after)}
                      {e.before || e.after ? (
                        <details>
                          <summary className="muted">before / after</summary>
                          <pre style={{ whiteSpace: 'pre-wrap', margin: '6px 0 0' }}>
                            {JSON.stringify({ before: e.before, after: e.after }, null, 2)}
                          </pre>
                        </details>
                      ) : null}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
        {page.nextCursor ? (
          <p>
            <Link href={`/audit?${next.toString()}`}>Older entries →</Link>
          </p>
        ) : null}
      </div>
    </>
  );
}
