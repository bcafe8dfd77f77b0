'use client';

import Link from 'next/link';
import { usePathname } from 'next/navigation';
import { useEffect, useRef } from 'react';
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
  const list = useRef<HTMLUListElement>(null);
  // On a phone the links scroll sideways: keep the current one in view.
  useEffect(() => {
    const reveal = () => {
      const ul = list.current;
      const current = ul?.querySelector<HTMLElement>('[aria-current="page"]');
      if (current && ul && ul.scrollWidth > ul.clientWidth) {
        ul.scrollLeft = current.offsetLeft - (ul.clientWidth - current.offsetWidth) / 2;
      }
    };
    reveal();
    window.addEventListener('resize', reveal);
    return () => window.removeEventListener('resize', reveal);
  }, [path]);
  return (
    <nav className="nav" aria-label="Main">
      <Link href="/" className="brand">
        Slipstream
        <small>{tenantName}</small>
      </Link>
      <ul className="nav-links" ref={list}>
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
