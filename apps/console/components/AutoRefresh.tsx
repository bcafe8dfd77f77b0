'use client';

import { useRouter } from 'next/navigation';
import { useEffect } from 'react';

/** Re-renders the page from the server every `ms`, e.g. so agents' applied revisions converge on screen. */
export function AutoRefresh({ ms }: { ms: number }) {
  const router = useRouter();
  useEffect(() => {
    const t = setInterval(() => {
      // Not while the user is typing in a form on the page: a refresh would not lose input, but it would
      // re-render under their cursor.
      if (document.visibilityState === 'visible' && !document.activeElement?.closest('form'))
        router.refresh();
    }, ms);
    return () => clearInterval(t);
  }, [ms, router]);
  return null;
}
