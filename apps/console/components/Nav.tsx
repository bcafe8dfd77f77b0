'use client';

import Link from 'next/link';
import { usePathname } from 'next/navigation';
import { logout } from '../lib/actions';

const LINKS = [
  { href: '/', label: 'Overview' },
  { href: '/vips', label: 'VIPs' },
  { href: '/pools', label: 'Pools' },
  { href: '/agents', label: 'Agents' },
  { href: '/api-keys', label: 'API keys' },
  { href: '/members', label: 'Members' },
  { href: '/audit', label: 'Audit log' },
  { href: '/settings', label: 'Settings' },
];

export function Nav({ tenantName, who, role }: { tenantName: string; who: string; role: string }) {
  const path = usePathname();
  const active = (href: string) =>
    href === '/' ? path === '/' : path === href || path.startsWith(`${href}/`);
  return (
    <nav className="nav" aria-label="Main">
      <Link href="/" className="brand">
        Slipstream
        <small>{tenantName}</small>
      </Link>
      <ul className="nav-links">
        {LINKS.map((l) => (
          <li key={l.href}>
            <Link href={l.href} aria-current={active(l.href) ? 'page' : undefined}>
              {l.label}
            </Link>
          </li>
        ))}
      </ul>
      <div className="nav-foot">
        <span data-testid="whoami">
          {who} · <span className="badge info">{role}</span>
        </span>
        <form action={logout}>
          <button type="submit" className="btn small secondary">
            Log out
          </button>
        </form>
      </div>
    </nav>
  );
}
