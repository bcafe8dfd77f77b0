import type { ReactNode } from 'react';
import { HealthFooter } from '../../components/HealthFooter';
import { Nav } from '../../components/Nav';
import { getMe } from '../../lib/api';

// Every console page depends on the session cookie and live API data.
export const dynamic = 'force-dynamic';

export default async function ConsoleLayout({ children }: { children: ReactNode }) {
  const me = await getMe();
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
