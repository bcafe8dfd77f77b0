import type { ReactNode } from 'react';
import { HealthFooter } from '../../components/HealthFooter';

export const dynamic = 'force-dynamic';

export default function AuthLayout({ children }: { children: ReactNode }) {
  return (
    <>
      <main className="auth">
        <div className="brand" style={{ fontSize: 22 }}>
          Slipstream
        </div>
        {children}
      </main>
      <HealthFooter />
    </>
  );
}
