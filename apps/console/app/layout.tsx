import type { ReactNode } from 'react';

export const metadata = { title: 'Slipstream console' };

export default function RootLayout({ children }: { children: ReactNode }) {
  return (
    <html lang="en">
      <body style={{ fontFamily: 'system-ui, sans-serif', margin: 0, background: '#f7f8fa', color: '#1b1f24' }}>
        {children}
      </body>
    </html>
  );
}
