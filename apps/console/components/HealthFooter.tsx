import { apiUrl } from '../lib/config';

interface Health {
  status: string;
  postgres?: string;
  redis?: string;
}

// The health endpoint is public and tiny; it stays a plain fetch so the footer still renders when the
// generated client or the session is what is broken.
async function fetchHealth(): Promise<Health | { error: string }> {
  try {
    const res = await fetch(`${apiUrl()}/v1/health`, {
      cache: 'no-store',
      signal: AbortSignal.timeout(2000),
    });
    return (await res.json()) as Health;
  } catch (err) {
    return { error: err instanceof Error ? err.message : String(err) };
  }
}

const tone = (v: string | undefined) => (v === 'ok' || v === 'up' ? 'ok' : v ? 'bad' : '');

/** API health, shown at the foot of every page. */
export async function HealthFooter() {
  const health = await fetchHealth();
  return (
    <footer className="status-footer" aria-label="API health" data-testid="api-health">
      {'error' in health ? (
        <span role="alert">
          API unreachable at {apiUrl()}: {health.error}
        </span>
      ) : (
        <ul>
          <li>
            API <span className={`badge ${tone(health.status)}`}>status: {health.status}</span>
          </li>
          <li>
            <span className={`badge ${tone(health.postgres)}`}>postgres: {health.postgres ?? 'unknown'}</span>
          </li>
          <li>
            <span className={`badge ${tone(health.redis)}`}>redis: {health.redis ?? 'unknown'}</span>
          </li>
        </ul>
      )}
    </footer>
  );
}
