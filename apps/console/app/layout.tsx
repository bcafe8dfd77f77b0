import type { ReactNode } from 'react';
import { Toaster } from '../components/ui';
import './globals.css';

export const metadata = { title: 'Slipstream console' };
export const viewport = { width: 'device-width', initialScale: 1 };

export default function RootLayout({ children }: { children: ReactNode }) {
  return (
    <html lang="en">
      <body>
        {children}
        <Toaster />
      </body>
    </html>
  );
}
