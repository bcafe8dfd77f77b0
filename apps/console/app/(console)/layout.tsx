import type { ReactNode } from 'react';
import { unstable_rethrow } from 'next/navigation';
import { HealthFooter } from '../../components/HealthFooter';
import { Nav } from '../../components/Nav';
import { getMe, type Me } from '../../lib/api';
import { apiUrl } from '../../lib/config';

// Every console page depends on the session cookie and live API data.
export const dynamic = 'force-dynamic';

export default async function ConsoleLayout({ children }: { children: ReactNode }) {
  let me: Me;
  try {
    me = await getMe();
  } catch (err) {
    // Redirects (no session) pass through; anything else means the API cannot be asked who is logged in,
    // which no page can recover from, so say so plainly instead of a blank error screen.
    unstable_rethrow(err);
    return (
      <main className="auth">
        <div className="card" role="alert">
          <h1>The console cannot reach the API</h1>
          <p className="muted">
            It tried {apiUrl()} and got: {err instanceof Error ? err.message : String(err)}. Check that the
            API is running and that SLIPSTREAM_API_URL points at it, then reload.
          </p>
        </div>
        <HealthFooter />
      </main>
    );
  }
  return (
    <div className="shell">
      <Nav tenantName={me.tenantName} who={me.actor.email ?? me.actor.id} role={me.role} />
      <div className="main">
        <main className="content">{children}</main>
        <HealthFooter />
      </div>
    </div>
  );
}
