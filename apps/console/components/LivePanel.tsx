'use client';

import Link from 'next/link';
import { useEffect, useState } from 'react';
import type { StatPoint } from '@slipstream/api-client';
import { LineChart, StackedAreaChart } from './charts/Charts';
import { fmtMs, fmtPercent, fmtRate } from '../lib/format';
import { startPolling, type Live } from './live-poll';

export const UNAVAILABLE_TEXT =
  'The API answered 404 for the stats of this view: the VIP was deleted, or the API predates agent telemetry.';

/** How many of the newest points the figures look back over for the last second that saw traffic. */
const FIGURE_LOOKBACK = 5;

function hasTraffic(p: ChartPoint): boolean {
  return p.newFlowsPerS > 0 || p.muxPacketsPerS > 0 || p.directPacketsPerS > 0;
}

/**
 * The point the headline figures show: the newest one with traffic among the last few, because the newest
 * second may still be waiting for an agent's report (agents report once a second) and would blink to zero.
 */
export function latestFigures(points: ChartPoint[]): ChartPoint | undefined {
  const recent = points.slice(-FIGURE_LOOKBACK);
  return recent.findLast(hasTraffic) ?? points.at(-1);
}

function clock(iso: string | undefined): string {
  if (!iso) return '';
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? '' : d.toISOString().slice(11, 19);
}

/** Polls the console's own /live/stats route (which calls the API server-side with the session cookie). */
function useLiveStats(vipId?: string): Live {
  const [live, setLive] = useState<Live>({ kind: 'loading' });
  useEffect(
    () =>
      startPolling(vipId ? `/live/stats?vip=${encodeURIComponent(vipId)}` : '/live/stats', {
        fetch: (url) => fetch(url, { cache: 'no-store' }),
        setTimer: (fn, ms) => setTimeout(fn, ms),
        clearTimer: (t) => clearTimeout(t as ReturnType<typeof setTimeout>),
        onState: setLive,
        onUnauthenticated: () => window.location.assign('/login?expired=1'),
      }),
    [vipId],
  );
  return live;
}

/** The fields the charts draw; the API's points carry totals too, which the charts do not need. */
export type ChartPoint = Pick<
  StatPoint,
  | 'at'
  | 'newFlowsPerS'
  | 'muxPacketsPerS'
  | 'directPacketsPerS'
  | 'bypassRatio'
  | 'timeToBypassP50Ms'
  | 'timeToBypassP99Ms'
>;

export function StatsCharts({ points }: { points: ChartPoint[] }) {
  const xLabels: [string, string] = [clock(points[0]?.at), clock(points.at(-1)?.at)];
  const last = latestFigures(points);
  return (
    <>
      <div className="grid figures" style={{ marginBottom: 16 }}>
        <div>
          <div className="muted">New flows / s</div>
          <div className="figure" data-testid="figure-new-flows">
            {fmtRate(last?.newFlowsPerS)}
          </div>
        </div>
        <div>
          <div className="muted">Bypass ratio</div>
          <div className="figure" data-testid="figure-bypass-ratio">
            {fmtPercent(last?.bypassRatio)}
          </div>
        </div>
        <div>
          <div className="muted">Packets / s via mux / direct</div>
          <div className="figure" data-testid="figure-packets">
            {fmtRate(last?.muxPacketsPerS)} / {fmtRate(last?.directPacketsPerS)}
          </div>
        </div>
        <div>
          <div className="muted">Time to bypass p50 / p99</div>
          <div className="figure" data-testid="figure-time-to-bypass">
            {fmtMs(last?.timeToBypassP50Ms)} / {fmtMs(last?.timeToBypassP99Ms)}
          </div>
        </div>
      </div>
      <div className="charts" style={{ marginBottom: 16 }}>
        <div className="card">
          <h3>New flows per second</h3>
          <LineChart
            title="New flows per second"
            xLabels={xLabels}
            format={fmtRate}
            series={[{ name: 'new flows/s', color: '#2563eb', values: points.map((p) => p.newFlowsPerS) }]}
          />
        </div>
        <div className="card">
          <h3>Packets per second: via mux vs direct</h3>
          <StackedAreaChart
            title="Packets per second via mux and direct"
            xLabels={xLabels}
            format={fmtRate}
            series={[
              { name: 'via mux', color: 'var(--mux)', values: points.map((p) => p.muxPacketsPerS) },
              {
                name: 'direct (bypassed)',
                color: 'var(--direct)',
                values: points.map((p) => p.directPacketsPerS),
              },
            ]}
          />
        </div>
        <div className="card">
          <h3>Bypass ratio</h3>
          <LineChart
            title="Bypass ratio"
            xLabels={xLabels}
            max={1}
            format={(v) => `${Math.round(v * 100)}%`}
            series={[
              {
                name: 'bypassed share of packets',
                color: '#1f8a4c',
                values: points.map((p) => p.bypassRatio),
              },
            ]}
          />
        </div>
        <div className="card">
          <h3>Time to bypass</h3>
          <LineChart
            title="Time to bypass p50 and p99"
            xLabels={xLabels}
            format={(v) => `${fmtRate(v)}ms`}
            series={[
              { name: 'p50', color: '#2563eb', values: points.map((p) => p.timeToBypassP50Ms) },
              { name: 'p99', color: '#a86200', values: points.map((p) => p.timeToBypassP99Ms) },
            ]}
          />
        </div>
      </div>
    </>
  );
}

function LiveState({ live }: { live: Live }) {
  if (live.kind === 'loading')
    return (
      <div className="card" aria-busy="true">
        <div className="skeleton" style={{ width: '40%' }} />
        <div className="skeleton" />
        <div className="skeleton" style={{ width: '70%' }} />
      </div>
    );
  if (live.kind === 'unavailable')
    return (
      <div className="card empty" data-testid="live-unavailable">
        <strong>No live data</strong>
        {UNAVAILABLE_TEXT}
      </div>
    );
  if (live.kind === 'error')
    return (
      <div className="notice error" role="alert">
        Live data failed to load: {live.message}
      </div>
    );
  if (!live.stats.points.some(hasTraffic))
    return (
      <div className="card empty" data-testid="live-no-traffic">
        <strong>No traffic yet</strong>
        No agent reported traffic for this {'vips' in live.stats ? 'tenant' : 'VIP'} in the last five minutes.
        Charts of new flows, packets via mux vs direct, bypass ratio and time to bypass appear here, refreshed
        every 2 s, as soon as agents report counters.
      </div>
    );
  return <StatsCharts points={live.stats.points} />;
}

/** Live charts for one VIP. */
export function VipLive({ vipId }: { vipId: string }) {
  return <LiveState live={useLiveStats(vipId)} />;
}

export interface VipRow {
  id: string;
  name: string;
  address: string;
  protocol: string;
  port: number;
  bypassEnabled: boolean;
}

/** Tenant-wide live charts plus the VIP table with each VIP's current figures. */
export function OverviewLive({ vips }: { vips: VipRow[] }) {
  const live = useLiveStats();
  const current = new Map(
    live.kind === 'data' && 'vips' in live.stats ? live.stats.vips.map((v) => [v.vipId, v.current]) : [],
  );
  return (
    <>
      <LiveState live={live} />
      <div className="card">
        <h2>VIPs</h2>
        {vips.length === 0 ? (
          <div className="empty">
            <strong>No VIPs yet</strong>
            <Link href="/vips/new">Create a VIP</Link> to start balancing traffic.
          </div>
        ) : (
          <div className="table-wrap">
            <table data-testid="overview-vips">
              <thead>
                <tr>
                  <th>Name</th>
                  <th>Address</th>
                  <th>Bypass</th>
                  <th>New flows/s</th>
                  <th>Mux pkt/s</th>
                  <th>Direct pkt/s</th>
                  <th>Bypass ratio</th>
                  <th>TTB p50 / p99</th>
                </tr>
              </thead>
              <tbody>
                {vips.map((v) => {
                  const c = current.get(v.id);
                  return (
                    <tr key={v.id}>
                      <td>
                        <Link href={`/vips/${v.id}`}>{v.name}</Link>
                      </td>
                      <td className="mono">
                        {v.address}:{v.port}/{v.protocol}
                      </td>
                      <td>
                        <span className={`badge ${v.bypassEnabled ? 'ok' : ''}`}>
                          {v.bypassEnabled ? 'on' : 'off'}
                        </span>
                      </td>
                      <td>{fmtRate(c?.newFlowsPerS)}</td>
                      <td>{fmtRate(c?.muxPacketsPerS)}</td>
                      <td>{fmtRate(c?.directPacketsPerS)}</td>
                      <td>{fmtPercent(c?.bypassRatio)}</td>
                      <td>
                        {fmtMs(c?.timeToBypassP50Ms)} / {fmtMs(c?.timeToBypassP99Ms)}
                      </td>
                    </tr>
                  );
                })}
              </tbody>
            </table>
          </div>
        )}
      </div>
    </>
  );
}
