'use client';

import { useEffect } from 'react';
import { toast } from '../../components/ui';

export default function ErrorPage({
  error,
  reset,
}: {
  error: Error & { digest?: string };
  reset: () => void;
}) {
  useEffect(() => toast('error', 'This page failed to load'), [error]);
  return (
    <div className="card">
      <h1>This page failed to load</h1>
      <p className="muted">
        The console could not get what this page needs from the API.
        {error.digest ? ` Reference: ${error.digest}.` : ''}
      </p>
      <button type="button" className="btn" onClick={reset}>
        Try again
      </button>
    </div>
  );
}
