// Renders the live-chart components with fixed sample data in the real browser, at desktop and phone width,
// so their look is checked (and screenshotted) before agent telemetry (issue #4) feeds them. This is a
// fixture page built by the test; the console itself never shows sample data.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { renderToStaticMarkup } from 'react-dom/server';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, expect, inject, it } from 'vitest';
import { StatsCharts, type ChartPoint } from '../../components/LivePanel';

const screenshotDir = inject('screenshotDir');
let browser: Browser;

beforeAll(async () => {
  browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--no-first-run', '--disable-sync'],
  });
});
afterAll(() => browser?.close());

/** 150 two-second samples: bypass ramps up, so mux packets fall while direct packets rise. */
function samples(): ChartPoint[] {
  const start = Date.parse('2026-11-26T12:00:00Z');
  return Array.from({ length: 150 }, (_, i) => {
    const ratio = Math.min(0.92, i / 100);
    const packets = 4000 + 800 * Math.sin(i / 9);
    return {
      at: new Date(start + i * 2000).toISOString(),
      newFlowsPerS: 40 + 10 * Math.sin(i / 5),
      muxPacketsPerS: packets * (1 - ratio),
      directPacketsPerS: packets * ratio,
      bypassRatio: i === 70 ? null : ratio,
      timeToBypassP50Ms: 1.2 + 0.2 * Math.sin(i / 7),
      timeToBypassP99Ms: 6 + 2 * Math.sin(i / 11),
    };
  });
}

it('draws the four live charts legibly at desktop and phone width', async () => {
  const css = readFileSync(join(import.meta.dirname, '../../app/globals.css'), 'utf8');
  const body = renderToStaticMarkup(<StatsCharts points={samples()} />);
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  await page.setContent(
    `<!doctype html><html><head><style>${css}</style></head><body><main class="content">` +
      `<p class="notice warn">Fixture page: fixed sample data rendered by the test.</p>${body}</main></body></html>`,
  );
  expect(await page.locator('svg.chart').count()).toBe(4);
  // Every chart drew its series (a path with at least one segment).
  const drawn = await page
    .locator('svg.chart path[data-series]')
    .evaluateAll((ps) => ps.map((p) => (p.getAttribute('d') ?? '').split(/[ML]/).length - 1));
  expect(drawn).toHaveLength(6);
  for (const n of drawn) expect(n).toBeGreaterThan(100);
  await page.screenshot({ path: join(screenshotDir, '00-charts-fixture-desktop.png'), fullPage: true });
  await page.setViewportSize({ width: 390, height: 844 });
  await page.screenshot({ path: join(screenshotDir, '00-charts-fixture-phone.png'), fullPage: true });
  expect(
    await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth),
  ).toBeLessThanOrEqual(1);
  await page.close();
});
