import { fmtTime } from '../lib/format';

const TONE: Record<string, string> = { healthy: 'ok', unhealthy: 'bad' };

/** A backend's health as the muxes' probes last judged it (majority of muxes reporting in the last 10 s). */
export function HealthBadge({ health, checkedAt }: { health: string; checkedAt: string | null }) {
  const title =
    health === 'unknown'
      ? 'No mux has reported a probe result for this backend recently'
      : `Checked ${fmtTime(checkedAt)}`;
  return (
    <span className={`badge ${TONE[health] ?? ''}`} title={title} data-testid="backend-health">
      {health}
    </span>
  );
}
