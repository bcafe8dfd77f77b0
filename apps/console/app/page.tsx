import { apiUrl } from '../lib/config';

// Always render on request: the page shows the API's live health.
export const dynamic = 'force-dynamic';

interface Health {
  status: string;
  postgres?: string;
  redis?: string;
}

async function fetchHealth(): Promise<Health | { error: string }> {
  try {
    const res = await fetch(`${apiUrl()}/v1/health`, { cache: 'no-store', signal: AbortSignal.timeout(2000) });
    return (await res.json()) as Health;
  } catch (err) {
    return { error: err instanceof Error ? err.message : String(err) };
  }
}

export default async function Home() {
  const health = await fetchHealth();
  return (
    <main style={{ maxWidth: 720, margin: '48px auto', padding: '0 16px' }}>
      <h1>Slipstream</h1>
      <p>Managed L4 load balancing with load balancer bypass.</p>
      <section aria-label="API health" data-testid="api-health">
        <h2>API</h2>
        {'error' in health ? (
          <p role="alert">API unreachable at {apiUrl()}: {health.error}</p>
        ) : (
          <ul>
            <li>status: {health.status}</li>
            <li>postgres: {health.postgres ?? 'unknown'}</li>
            <li>redis: {health.redis ?? 'unknown'}</li>
          </ul>
        )}
      </section>
    </main>
  );
}
