// End-to-end: the built console against the real API and database that global-setup started, driven with
// playwright-core through Debian's chromium. One tenant is walked through every page in order; screenshots
// of each page at desktop and phone width land in test-output/console/.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, inject, it } from 'vitest';
import type { Schemas } from '@slipstream/api-client';
import { FakeAgent, TTB_BUCKETS_MS } from './fake-agent';

const apiUrl = inject('apiUrl');
const consoleUrl = inject('consoleUrl');
const screenshotDir = inject('screenshotDir');

const FLAGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-dev-shm-usage',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
const DESKTOP = { width: 1280, height: 800 };
const PHONE = { width: 390, height: 844 };

const run = Date.now().toString(36);
const owner = {
  email: `owner-${run}@example.test`,
  password: 'correct horse battery',
  tenant: `Acme ${run}`,
};
const viewer = { email: `viewer-${run}@example.test`, password: 'viewer password 1' };

let browser: Browser;
let profileDir: string;
let ctx: BrowserContext;
let page: Page;
// Shared by the steps below, which build on each other like a user's session does.
const ids: { pool?: string; vip?: string; tenant?: string } = {};
const fakeAgents: FakeAgent[] = [];

async function api<T = unknown>(
  path: string,
  init: RequestInit & { token?: string } = {},
): Promise<{ status: number; body: T }> {
  const res = await fetch(`${apiUrl}${path}`, {
    ...init,
    headers: {
      'content-type': 'application/json',
      ...(init.token ? { authorization: `Bearer ${init.token}` } : {}),
      ...(init.headers as Record<string, string> | undefined),
    },
  });
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : null) as T };
}

async function apiLogin(email: string, password: string, tenantId?: string): Promise<string> {
  const r = await api<{ token: string }>('/v1/auth/login', {
    method: 'POST',
    body: JSON.stringify({ email, password, ...(tenantId ? { tenantId } : {}) }),
  });
  expect(r.status).toBe(200);
  return r.body.token;
}

/** Screenshots at desktop and phone width; at phone width the page must not scroll sideways. */
async function shot(p: Page, name: string): Promise<void> {
  // Not 'networkidle': a page that just ran a server action can stay "busy" for seconds.
  await p.waitForLoadState('load');
  await p.waitForTimeout(200);
  await p.screenshot({ path: join(screenshotDir, `${name}-desktop.png`), fullPage: true });
  await p.setViewportSize(PHONE);
  await p.waitForTimeout(150);
  await p.screenshot({ path: join(screenshotDir, `${name}-phone.png`), fullPage: true });
  const overflow = await p.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  expect(overflow, `${name} scrolls sideways at ${PHONE.width} px`).toBeLessThanOrEqual(1);
  // A secret or command shown once must keep its copy button in view, not scrolled off with the text.
  const hiddenCopy = await p.evaluate(
    () =>
      [...document.querySelectorAll('.secret')].filter((box) => {
        const button = box.querySelector('button')?.getBoundingClientRect();
        const outer = box.getBoundingClientRect();
        return !button || button.right > Math.min(outer.right, window.innerWidth) + 0.5;
      }).length,
  );
  expect(hiddenCopy, `${name}: a copy button is out of view at ${PHONE.width} px`).toBe(0);
  await p.setViewportSize(DESKTOP);
}

/** Logs in through the form, into a given organisation (the user's first one is their own). */
async function logInAs(p: Page, email: string, password: string, tenantId: string): Promise<void> {
  await go(p, '/login');
  const login = p.getByRole('form', { name: 'Log in' });
  await login.locator('#f-email').fill(email);
  await login.locator('#f-password').fill(password);
  await login.getByText('Member of several organisations?').click();
  await login.locator('#f-tenantId').fill(tenantId);
  await login.getByRole('button', { name: 'Log in' }).click();
  await p.waitForURL(`${consoleUrl}/`);
}

/**
 * Waits until React has hydrated every form control on the page. A field filled before that can come out
 * with its server-rendered text appended (seen with a textarea on a loaded machine), and a click can be lost.
 */
async function hydrated(p: Page): Promise<void> {
  await p.waitForFunction(() =>
    // React's own hidden fields for a form's server action (name $ACTION_…) are not part of the tree.
    [...document.querySelectorAll('form, input:not([name^="$ACTION"]), textarea, select, button')].every(
      (el) => Object.keys(el).some((key) => key.startsWith('__reactProps$')),
    ),
  );
}

async function go(p: Page, path: string): Promise<void> {
  await p.goto(`${consoleUrl}${path}`);
  await hydrated(p);
}

async function reload(p: Page): Promise<void> {
  await p.reload();
  await hydrated(p);
}

beforeAll(async () => {
  profileDir = mkdtempSync(join(tmpdir(), 'slipstream-console-e2e-'));
  browser = await chromium
    .launch({
      executablePath: '/usr/bin/chromium',
      args: [...FLAGS, `--user-data-dir=${profileDir}`],
    })
    .catch(async () =>
      // Chromium refuses --user-data-dir from launch() in some versions; a fresh temporary profile is the default.
      chromium.launch({ executablePath: '/usr/bin/chromium', args: FLAGS }),
    );
  ctx = await browser.newContext({ viewport: DESKTOP });
  page = await ctx.newPage();
  page.setDefaultTimeout(10_000);
  console.log(`console e2e screenshots: ${screenshotDir}`);
});

afterAll(async () => {
  await Promise.all(fakeAgents.map((a) => a.stop()));
  await browser?.close();
  rmSync(profileDir, { recursive: true, force: true });
});

// The steps build on each other (the VIP needs the pool, the viewer needs the tenant): after the first
// failure the rest are skipped instead of each timing out on a page that is not there.
let broken = '';
beforeEach((c) => {
  if (broken) c.skip(`an earlier step failed: ${broken}`);
});
afterEach(async (c) => {
  if (c.task.result?.state !== 'fail') return;
  broken ||= c.task.name;
  await page
    ?.screenshot({
      path: join(screenshotDir, `FAILED-${c.task.name.replace(/\W+/g, '-').slice(0, 60)}.png`),
      fullPage: true,
    })
    .catch(() => undefined);
});

describe('console', () => {
  it('redirects to the login page without a session and shows API health', async () => {
    await go(page, '/vips');
    expect(new URL(page.url()).pathname).toBe('/login');
    await expect.poll(() => page.getByTestId('api-health').innerText()).toContain('postgres: up');
    await shot(page, '01-login');
  });

  it('signs up, and keeps the session in an httpOnly cookie only', async () => {
    await go(page, '/signup');
    const form = page.getByRole('form', { name: 'Sign up' });
    // A too-short password is refused by the API with a field message.
    await form.locator('#f-tenantName').fill(owner.tenant);
    await form.locator('#f-email').fill(owner.email);
    await form.locator('#f-password').fill('short');
    await form.getByRole('button', { name: 'Create account' }).click();
    await expect.poll(() => form.getByTestId('error-password').isVisible()).toBe(true);
    await shot(page, '02-signup-error');

    await form.locator('#f-password').fill(owner.password);
    await form.getByRole('button', { name: 'Create account' }).click();
    await page.waitForURL(`${consoleUrl}/`);
    await expect.poll(() => page.getByTestId('whoami').innerText()).toContain(owner.email);

    const cookie = (await ctx.cookies()).find((c) => c.name === 'slipstream_session');
    expect(cookie).toMatchObject({ httpOnly: true, sameSite: 'Lax' });
    expect(await page.evaluate(() => document.cookie)).not.toContain('slipstream_session');
    const storage = await page.evaluate(
      () => JSON.stringify({ ...localStorage }) + JSON.stringify({ ...sessionStorage }),
    );
    expect(storage).not.toContain(cookie?.value ?? '<none>');
  });

  it('shows the overview with the no-traffic state before any agent reports', async () => {
    await expect.poll(() => page.getByTestId('live-no-traffic').innerText()).toContain('No traffic yet');
    await expect.poll(() => page.getByText('No VIPs yet').isVisible()).toBe(true);
    await shot(page, '03-overview-empty');
  });

  it('creates a pool with probe settings', async () => {
    await go(page, '/pools');
    await expect.poll(() => page.getByText('No pools yet').isVisible()).toBe(true);
    const form = page.getByRole('form', { name: 'Create pool' });
    await form.locator('#f-name').fill('web');
    await form.locator('[id="f-probe.protocol"]').selectOption('http');
    await form.locator('[id="f-probe.path"]').fill('/healthz');
    // Timeout not below interval: the API's cross-field rule answers with a field message.
    await form.locator('[id="f-probe.intervalMs"]').fill('1000');
    await form.locator('[id="f-probe.timeoutMs"]').fill('1000');
    await form.getByRole('button', { name: 'Create pool' }).click();
    await expect.poll(() => form.getByTestId('form-error').isVisible()).toBe(true);
    await shot(page, '04-pools-error');
    await form.locator('[id="f-probe.timeoutMs"]').fill('500');
    await form.getByRole('button', { name: 'Create pool' }).click();
    await page.waitForURL(/\/pools\/[0-9a-f-]{36}\?created=1$/);
    ids.pool = new URL(page.url()).pathname.split('/').pop();
    await expect.poll(() => page.getByRole('heading', { name: 'web' }).isVisible()).toBe(true);
  });

  it('adds backends with field-level errors, then drains one', async () => {
    const form = page.getByRole('form', { name: 'Add backend' });
    await form.locator('#f-address').fill('10.0.1.300');
    await form.locator('#f-port').fill('8080');
    await form.getByRole('button', { name: 'Add backend' }).click();
    await expect.poll(() => form.getByTestId('error-address').isVisible()).toBe(true);

    for (const address of ['10.0.1.11', '10.0.1.12']) {
      await form.locator('#f-address').fill(address);
      await form.locator('#f-port').fill('8080');
      await form.getByRole('button', { name: 'Add backend' }).click();
      await expect.poll(() => page.getByTestId('backend-list').innerText()).toContain(`${address}:8080`);
    }

    const row = page.getByRole('form', { name: 'Edit backend 10.0.1.12:8080' });
    await row.getByLabel('Weight of 10.0.1.12:8080').fill('0');
    await row.getByLabel('State of 10.0.1.12:8080').selectOption('draining');
    await row.getByRole('button', { name: 'Save' }).click();
    await expect
      .poll(() => page.getByTestId('backend-list').locator('tr', { hasText: '10.0.1.12:8080' }).innerText())
      .toMatch(/0\s+draining/);
    await shot(page, '05-pool');
    await go(page, '/pools');
    await expect.poll(() => page.getByTestId('pool-list').innerText()).toContain('/healthz');
    await shot(page, '06-pools');
  });

  it('creates a VIP, showing the API field messages first', async () => {
    await go(page, '/vips');
    await page.getByRole('link', { name: 'New VIP' }).click();
    await page.waitForURL(`${consoleUrl}/vips/new`);
    const form = page.getByRole('form', { name: 'Create VIP' });
    await form.locator('#f-name').fill('web-frontend');
    await form.locator('#f-address').fill('10.0.0.999');
    await form.locator('#f-port').fill('70000');
    await form.locator('[id="f-bypass.sourceCidrs"]').fill('10.0.0.0/16\n10.1.0.1/8');
    await form.getByRole('button', { name: 'Create VIP' }).click();
    await expect.poll(() => form.getByTestId('error-address').isVisible()).toBe(true);
    await expect.poll(() => form.getByTestId('error-port').isVisible()).toBe(true);
    await expect.poll(() => form.getByTestId('error-bypass.sourceCidrs').isVisible()).toBe(true);
    await shot(page, '07-vip-new-errors');

    await form.locator('#f-address').fill('10.0.0.10');
    await form.locator('#f-port').fill('443');
    await form.locator('[id="f-bypass.sourceCidrs"]').fill('10.0.0.0/16');
    await form.getByRole('button', { name: 'Create VIP' }).click();
    await page.waitForURL(/\/vips\/[0-9a-f-]{36}\?created=1$/);
    ids.vip = new URL(page.url()).pathname.split('/').pop();
    await expect.poll(() => page.getByTestId('live-no-traffic').isVisible()).toBe(true);
    await expect.poll(() => page.getByText('10.0.1.11:8080').isVisible()).toBe(true);
    await shot(page, '08-vip');

    await go(page, '/vips');
    await expect.poll(() => page.getByTestId('vip-list').innerText()).toContain('10.0.0.10:443/tcp');
    await shot(page, '09-vips');

    await go(page, '/');
    await expect.poll(() => page.getByTestId('overview-vips').innerText()).toContain('web-frontend');
    await expect.poll(() => page.getByTestId('live-no-traffic').isVisible()).toBe(true);
    await shot(page, '09-overview');
  });

  it('refuses a duplicate VIP with the API message', async () => {
    await go(page, '/vips/new');
    const form = page.getByRole('form', { name: 'Create VIP' });
    await form.locator('#f-name').fill('web-copy');
    await form.locator('#f-address').fill('10.0.0.10');
    await form.locator('#f-port').fill('443');
    await form.getByRole('button', { name: 'Create VIP' }).click();
    await expect.poll(() => form.getByTestId('form-error').innerText()).toMatch(/already uses this address/i);
  });

  it('shows a conflict when the VIP changed since the page was loaded (stale ETag)', async () => {
    await go(page, `/vips/${ids.vip}`);
    const form = page.getByRole('form', { name: 'Edit VIP' });
    await form.locator('#f-idleTimeoutS').fill('600');
    // Someone else changes the VIP behind the page's back.
    const token = await apiLogin(owner.email, owner.password);
    const patched = await api(`/v1/vips/${ids.vip}`, {
      method: 'PATCH',
      token,
      body: JSON.stringify({ name: 'web-renamed' }),
    });
    expect(patched.status).toBe(200);
    await form.getByRole('button', { name: 'Save VIP' }).click();
    await expect
      .poll(() => form.getByTestId('conflict').innerText())
      .toContain('changed this since you opened it');
    await shot(page, '10-vip-conflict');
    const after = await api<{ name: string; idleTimeoutS: number }>(`/v1/vips/${ids.vip}`, { token });
    expect(after.body).toMatchObject({ name: 'web-renamed', idleTimeoutS: 300 });
    // After a reload the edit goes through.
    await reload(page);
    await form.locator('#f-idleTimeoutS').fill('600');
    await form.getByRole('button', { name: 'Save VIP' }).click();
    await expect.poll(() => form.getByRole('status').innerText()).toContain('VIP saved');
    expect((await api<{ idleTimeoutS: number }>(`/v1/vips/${ids.vip}`, { token })).body.idleTimeoutS).toBe(
      600,
    );
  });

  it('edits the bypass policy', async () => {
    await reload(page);
    const form = page.getByRole('form', { name: 'Bypass policy' });
    await form.locator('[id="f-bypass.sourceCidrs"]').fill('10.0.0.0/16, 192.168.0.0/24');
    await form.locator('[id="f-bypass.maxFlowsPerHost"]').fill('1000');
    await form.locator('[id="f-bypass.handshakeHoldMs"]').fill('5');
    await form.getByRole('button', { name: 'Save bypass policy' }).click();
    await expect.poll(() => form.getByRole('status').innerText()).toContain('Bypass policy saved');
    const token = await apiLogin(owner.email, owner.password);
    const vip = await api<{
      bypass: { sourceCidrs: string[]; maxFlowsPerHost: number; handshakeHoldMs: number };
    }>(`/v1/vips/${ids.vip}`, { token });
    expect(vip.body.bypass).toMatchObject({
      sourceCidrs: ['10.0.0.0/16', '192.168.0.0/24'],
      maxFlowsPerHost: 1000,
      handshakeHoldMs: 5,
    });
    await reload(page);
    expect(await form.locator('[id="f-bypass.handshakeHoldMs"]').inputValue()).toBe('5');
  });

  it('creates an API key whose secret is shown once and works against the API', async () => {
    await go(page, '/api-keys');
    await expect.poll(() => page.getByText('No API keys').isVisible()).toBe(true);
    const form = page.getByRole('form', { name: 'Create API key' });
    await form.locator('#f-name').fill('terraform-ci');
    await form.locator('#f-role').selectOption('operator');
    await form.getByRole('button', { name: 'Create API key' }).click();
    await expect.poll(() => page.getByTestId('secret-value').isVisible()).toBe(true);
    const secret = await page.getByTestId('secret-value').innerText();
    expect(secret.length).toBeGreaterThan(20);
    await expect.poll(() => page.getByTestId('api-key-list').innerText()).toContain('terraform-ci');
    await shot(page, '11-api-keys');
    const me = await api<{ role: string }>('/v1/me', { token: secret });
    expect(me).toMatchObject({ status: 200, body: { role: 'operator' } });
    // Shown once: a reload no longer has it.
    await reload(page);
    expect(await page.getByTestId('secret-value').count()).toBe(0);

    // Revoked, the key stops working at the API.
    await page.getByRole('button', { name: 'Revoke' }).click();
    await page.getByRole('button', { name: 'Yes, revoke' }).click();
    await expect.poll(() => page.getByTestId('api-key-list').innerText()).toContain('revoked');
    expect((await api('/v1/me', { token: secret })).status).toBe(401);
  });

  it('lists the changes in the audit log and filters them', async () => {
    await go(page, '/audit');
    const list = page.getByTestId('audit-list');
    await expect.poll(() => list.innerText()).toContain('apiKey.create');
    expect(await list.innerText()).toContain('vip.update');
    await shot(page, '12-audit');
    await page.locator('#f-resourceType').selectOption('vip');
    await page.getByRole('button', { name: 'Filter' }).click();
    await page.waitForURL(/resourceType=vip/);
    const text = await list.innerText();
    expect(text).toContain('vip.create');
    expect(text).not.toContain('apiKey.create');
    // The API filters by exact action; older pages follow the same filter through the cursor link.
    await page.locator('#f-action').fill('vip.update');
    await page.getByRole('button', { name: 'Filter' }).click();
    await page.waitForURL(/action=vip.update/);
    await expect.poll(() => list.locator('tbody tr').count()).toBe(3);
    expect(await list.innerText()).not.toContain('vip.create');
    // An actor's id links to that actor's changes.
    const me = await api<Schemas['Me']>('/v1/me', { token: await apiLogin(owner.email, owner.password) });
    await go(page, '/audit');
    await list.locator(`a[href="/audit?actorId=${me.body.actor.id}"]`).first().click();
    await page.waitForURL(/actorId=/);
    await expect.poll(() => list.innerText()).toContain('tenant.create');
    await page.locator('#f-actorId').fill('00000000-0000-4000-8000-000000000000');
    await page.getByRole('button', { name: 'Filter' }).click();
    await expect.poll(() => page.getByText('Nothing matches this filter.').isVisible()).toBe(true);
  });

  it('adds an agent join token and lists agents', async () => {
    await go(page, '/agents');
    await expect.poll(() => page.getByText('No agents yet').isVisible()).toBe(true);
    const form = page.getByRole('form', { name: 'Add agent' });
    await form.locator('#f-name').fill('web-hosts');
    await form.getByRole('button', { name: 'Create join token' }).click();
    await expect.poll(() => page.getByTestId('secret-value').isVisible()).toBe(true);
    // The install one-liner names the API's install.sh and carries exactly the token shown, with a copy button.
    const secret = (await page.getByTestId('secret-value').innerText()).trim();
    expect(secret).toMatch(/^sls_j_[A-Za-z0-9_-]{43}$/);
    const oneLiner = page.getByTestId('install-command');
    expect((await oneLiner.innerText()).replace(/\s+/g, ' ').trim()).toBe(
      `curl -fsSL ${apiUrl}/install.sh | sudo bash -s -- --token ${secret}`,
    );
    // Its copy button is on screen (the command wraps instead of pushing it out of view).
    const copy = page.getByTestId('install-one-liner').getByRole('button', { name: 'Copy command' });
    const box = await copy.boundingBox();
    expect(box).not.toBeNull();
    expect(box!.x + box!.width).toBeLessThanOrEqual(page.viewportSize()!.width);
    // The one-liner's URL really serves the installer.
    const script = await fetch(`${apiUrl}/install.sh`);
    expect(script.status).toBe(200);
    expect(await script.text()).toContain(`API_URL='${apiUrl}'`);
    await shot(page, '13-agents');
  });

  it('shows settings and rotates the redirect key', async () => {
    await go(page, '/settings');
    ids.tenant = (await page.locator('dt:has-text("Tenant id") + dd').innerText()).trim();
    expect(ids.tenant).toMatch(/^[0-9a-f-]{36}$/);
    await expect.poll(() => page.getByText('No redirect key yet').isVisible()).toBe(true);
    await page.getByRole('button', { name: 'Rotate redirect key' }).click();
    await expect.poll(() => page.getByTestId('bypass-key-list').innerText()).toMatch(/\bactive\b/);
    const token = await apiLogin(owner.email, owner.password);
    const keys = await api<Schemas['BypassKeyList']>('/v1/bypass-keys', { token });
    expect(keys.body.items).toHaveLength(1);
    expect(await page.getByTestId('bypass-key-list').innerText()).toContain(keys.body.items[0]?.keyId);
    await shot(page, '14-settings');
  });

  it('charts telemetry that agents post through the real API, shows agents and backend health', async () => {
    const vipId = ids.vip ?? '';
    const token = await apiLogin(owner.email, owner.password);
    const host = new FakeAgent(apiUrl, `e2e-host-${run}`, '198.18.0.11');
    const mux = new FakeAgent(apiUrl, `e2e-mux-${run}`, '198.18.0.2');
    fakeAgents.push(host, mux);
    await host.enroll(token, 'host');
    await mux.enroll(token, 'mux');
    /** Per-second time-to-bypass counts: n flows in the bucket whose upper bound is `ms`. */
    const ttb = (...pairs: [number, number][]) => {
      const counts = new Array<number>(TTB_BUCKETS_MS.length + 1).fill(0);
      for (const [ms, n] of pairs) counts[TTB_BUCKETS_MS.indexOf(ms)] = n;
      return counts;
    };
    // Phase 1: half the packets bypass the mux; 10 flows/s bypassed, 5 within 0.5 ms and 5 within (0.5, 1] ms.
    host.rate = {
      vipId,
      packetsMux: 500,
      packetsDirect: 500,
      flowsNew: 10,
      flowsBypassed: 10,
      ttbCounts: ttb([0.5, 5], [1, 5]),
    };
    mux.health = [
      { vipId, address: '10.0.1.11', port: 8080, healthy: true, reason: 'http 200' },
      { vipId, address: '10.0.1.12', port: 8080, healthy: false, reason: 'connect timeout' },
    ];

    await go(page, `/vips/${vipId}`);
    await expect.poll(() => page.getByTestId('live-no-traffic').isVisible()).toBe(true);
    host.start();
    mux.start();
    const figure = (id: string) => () => page.getByTestId(id).innerText();
    const packetsChart = () =>
      page.getByRole('img', { name: 'Packets per second via mux and direct' }).innerHTML();
    // Linear interpolation inside the bucket (the API's quantile): p50 = 0.5, p99 = 0.5 + 0.5 x 4.9 / 5 = 0.99.
    await expect.poll(figure('figure-bypass-ratio'), { timeout: 15_000 }).toBe('50.0%');
    await expect.poll(figure('figure-packets')).toBe('500 / 500');
    await expect.poll(figure('figure-new-flows')).toBe('10');
    await expect.poll(figure('figure-time-to-bypass')).toBe('0.5 ms / 1.0 ms');
    // The stacked packets chart's axis ends at the total, 1000/s.
    await expect.poll(packetsChart).toContain('>1000<');

    // Phase 2: 90% bypassed, twice the traffic; 20 flows/s: 2 within 0.5 ms, 8 in (0.5, 1], 8 in (1, 2] and
    // 2 in (2, 5] ms: p50 = 0.5 + 0.5 x 8 / 8 = 1.0 ms, p99 = 2 + 3 x (19.8 - 18) / 2 = 4.7 ms.
    host.rate = {
      vipId,
      packetsMux: 200,
      packetsDirect: 1800,
      flowsNew: 20,
      flowsBypassed: 20,
      ttbCounts: ttb([0.5, 2], [1, 8], [2, 8], [5, 2]),
    };
    await expect.poll(figure('figure-bypass-ratio'), { timeout: 15_000 }).toBe('90.0%');
    await expect.poll(figure('figure-packets')).toBe('200 / 1800');
    await expect.poll(figure('figure-new-flows')).toBe('20');
    await expect.poll(figure('figure-time-to-bypass')).toBe('1.0 ms / 4.7 ms');
    await expect.poll(packetsChart).toContain('>2000<');
    // The mux's verdicts reach the backend list, which the server renders: reload until they show.
    await expect
      .poll(
        async () => {
          await reload(page);
          return page.getByText('10.0.1.12:8080').locator('xpath=..').innerText();
        },
        { timeout: 20_000, interval: 1000 },
      )
      .toContain('unhealthy');
    expect(await page.getByText('10.0.1.11:8080').locator('xpath=..').innerText()).toContain('healthy');
    await shot(page, '14b-vip-live');

    // The overview's VIP table shows each VIP's figures over the last 5 s; steady after 5 s of phase 2.
    await go(page, '/');
    const row = () =>
      page
        .getByTestId('overview-vips')
        .locator('tr', { has: page.locator(`a[href="/vips/${vipId}"]`) })
        .innerText();
    await expect.poll(row, { timeout: 15_000 }).toMatch(/20\s+200\s+1800\s+90\.0%\s+1\.0 ms \/ 4\.7 ms/);
    await expect.poll(figure('figure-bypass-ratio')).toBe('90.0%');
    await shot(page, '14c-overview-live');

    await go(page, `/pools/${ids.pool}`);
    await expect
      .poll(() => page.getByTestId('backend-list').locator('tr', { hasText: '10.0.1.11:8080' }).innerText())
      .toMatch(/\bhealthy\b/);
    await shot(page, '14d-pool-health');

    // Agents: the host ACKs what it was sent (telemetry carries its applied revision); the mux NACKs it.
    const desired = async (id: string) => {
      const r = await api<Schemas['Agent']>(`/v1/agents/${id}`, { token });
      return r.body.desiredRevision;
    };
    await expect.poll(() => desired(host.agentId), { timeout: 15_000 }).not.toBeNull();
    await expect.poll(() => desired(mux.agentId), { timeout: 15_000 }).not.toBeNull();
    const nack = 'nft: Error: Could not process rule: No such file or directory';
    expect(await mux.ack((await desired(mux.agentId)) ?? 0, nack)).toBe(204);
    await go(page, '/agents');
    const agentRow = (name: string) => () =>
      page.getByTestId('agent-list').locator(`tr[data-agent="${name}"]`).innerText();
    await expect.poll(agentRow(host.name), { timeout: 10_000 }).toMatch(/online\s+connected/);
    // A backend health change bumps the revision too, so the host keeps applying what it is sent.
    await expect
      .poll(
        async () => {
          host.appliedRevision = (await desired(host.agentId)) ?? 0;
          await new Promise((r) => setTimeout(r, 1500));
          await reload(page);
          return agentRow(host.name)();
        },
        { timeout: 20_000 },
      )
      .toContain('in sync');
    expect(await agentRow(host.name)()).toContain('0.1.0-e2e');
    expect(await agentRow(mux.name)()).toContain('converging');
    await expect.poll(agentRow(mux.name)).toContain(nack);
    await shot(page, '14e-agents');

    // Revoking the mux from the console: its credential stops working at once.
    const muxRow = page.getByTestId('agent-list').locator(`tr[data-agent="${mux.name}"]`);
    const before = mux.statuses.length;
    await muxRow.getByRole('button', { name: 'Revoke' }).click();
    await muxRow.getByRole('button', { name: 'Yes, revoke' }).click();
    await expect.poll(agentRow(mux.name)).toContain('revoked');
    await expect.poll(() => mux.statuses.slice(before).includes(401), { timeout: 5_000 }).toBe(true);
    await Promise.all([host.stop(), mux.stop()]);
    // Every report before the revocation was taken.
    expect(host.statuses.length).toBeGreaterThan(10);
    expect(host.statuses.every((s) => s === 204)).toBe(true);
    expect(mux.statuses.slice(0, before).every((s) => s === 204)).toBe(true);
  });

  it('adds a member: as operator they change VIPs but not keys, as viewer they see no edit controls', async () => {
    const signup = await api('/v1/auth/signup', {
      method: 'POST',
      body: JSON.stringify({
        email: viewer.email,
        password: viewer.password,
        tenantName: `Viewer home ${run}`,
      }),
    });
    expect(signup.status).toBe(201);
    await go(page, '/members');
    const form = page.getByRole('form', { name: 'Add member' });
    await form.locator('#f-email').fill(viewer.email);
    await form.locator('#f-role').selectOption('viewer');
    await form.getByRole('button', { name: 'Add member' }).click();
    await expect.poll(() => page.getByTestId('member-list').innerText()).toContain(viewer.email);
    // Role changes go through the row form. As an operator the member may change VIPs but not keys or agents.
    const roleForm = page.getByRole('form', { name: `Role of ${viewer.email}` });
    await roleForm.locator('select').selectOption('operator');
    await roleForm.getByRole('button', { name: 'Save' }).click();
    await expect.poll(() => page.getByText(`${viewer.email} is now operator`).first().isVisible()).toBe(true);
    const octx = await browser.newContext({ viewport: DESKTOP });
    try {
      const opage = await octx.newPage();
      opage.setDefaultTimeout(10_000);
      await logInAs(opage, viewer.email, viewer.password, ids.tenant ?? '');
      await expect.poll(() => opage.getByTestId('whoami').innerText()).toContain('operator');
      await go(opage, '/vips');
      await expect.poll(() => opage.getByRole('link', { name: 'New VIP' }).isVisible()).toBe(true);
      await go(opage, '/api-keys');
      await expect.poll(() => opage.getByTestId('admin-only').isVisible()).toBe(true);
      expect(await opage.getByRole('form', { name: 'Create API key' }).count()).toBe(0);
      await go(opage, '/agents');
      await expect.poll(() => opage.getByRole('heading', { name: 'Agents' }).isVisible()).toBe(true);
      expect(await opage.getByRole('form', { name: 'Add agent' }).count()).toBe(0);
    } finally {
      await octx.close();
    }
    await reload(page);
    await roleForm.locator('select').selectOption('viewer');
    await roleForm.getByRole('button', { name: 'Save' }).click();
    await expect.poll(() => page.getByText(`${viewer.email} is now viewer`).first().isVisible()).toBe(true);
    await shot(page, '15-members');

    const vctx = await browser.newContext({ viewport: DESKTOP });
    const vpage = await vctx.newPage();
    vpage.setDefaultTimeout(10_000);
    try {
      await logInAs(vpage, viewer.email, viewer.password, ids.tenant ?? '');
      await expect.poll(() => vpage.getByTestId('whoami').innerText()).toContain('viewer');

      await go(vpage, '/vips');
      await expect.poll(() => vpage.getByTestId('vip-list').isVisible()).toBe(true);
      expect(await vpage.getByRole('link', { name: 'New VIP' }).count()).toBe(0);
      await go(vpage, `/vips/${ids.vip}`);
      await expect.poll(() => vpage.getByRole('heading', { name: 'Bypass policy' }).isVisible()).toBe(true);
      expect(
        await vpage
          .locator('main form input:not([type=hidden]), main form select, main form textarea')
          .count(),
      ).toBe(0);
      expect(await vpage.getByRole('button', { name: /Save|Delete/ }).count()).toBe(0);
      await shot(vpage, '16-vip-as-viewer');
      await go(vpage, `/pools/${ids.pool}`);
      await expect.poll(() => vpage.getByTestId('backend-list').isVisible()).toBe(true);
      expect(await vpage.getByRole('form', { name: 'Add backend' }).count()).toBe(0);
      expect(await vpage.getByRole('button', { name: /Save|Remove|Delete/ }).count()).toBe(0);
      await go(vpage, '/api-keys');
      await expect.poll(() => vpage.getByTestId('admin-only').isVisible()).toBe(true);
      await go(vpage, '/members');
      await expect.poll(() => vpage.getByTestId('member-list').isVisible()).toBe(true);
      expect(await vpage.getByRole('form', { name: 'Add member' }).count()).toBe(0);
      expect(await vpage.locator('main select').count()).toBe(0);
      await go(vpage, '/agents');
      await expect.poll(() => vpage.getByTestId('agent-list').isVisible()).toBe(true);
      expect(await vpage.getByRole('button', { name: 'Revoke' }).count()).toBe(0);
      await go(vpage, '/settings');
      await expect.poll(() => vpage.getByTestId('bypass-key-list').isVisible()).toBe(true);
      expect(await vpage.getByRole('button', { name: 'Rotate redirect key' }).count()).toBe(0);
      // The viewer belongs to two organisations (GET /v1/auth/tenants): their own and this one, the current.
      const orgs = await vpage.getByTestId('tenant-list').innerText();
      expect(orgs).toContain(`Viewer home ${run}`);
      expect(orgs).toMatch(new RegExp(`Acme ${run}\\s+current\\s+viewer`));
      await shot(vpage, '16b-settings-as-viewer');
      await go(vpage, '/vips/new');
      await vpage.waitForURL(`${consoleUrl}/vips`);

      const token = await apiLogin(viewer.email, viewer.password, ids.tenant);
      const denied = await api(`/v1/vips/${ids.vip}`, {
        method: 'PATCH',
        token,
        body: JSON.stringify({ port: 8443 }),
      });
      expect(denied.status).toBe(403);
    } finally {
      await vctx.close();
    }
  });

  it('refuses to delete a pool a VIP uses, then deletes the VIP and the pool', async () => {
    await go(page, `/pools/${ids.pool}`);
    await page.getByRole('button', { name: 'Delete pool' }).click();
    await page.getByRole('button', { name: 'Yes, delete pool' }).click();
    await expect.poll(() => page.getByTestId('form-error').innerText()).toMatch(/used by a VIP/i);
    await shot(page, '17-pool-in-use');

    await go(page, `/vips/${ids.vip}`);
    await page.getByRole('button', { name: 'Delete VIP' }).click();
    await page.getByRole('button', { name: 'Yes, delete vip' }).click();
    await page.waitForURL(`${consoleUrl}/vips?deleted=1`);
    await expect.poll(() => page.getByText('No VIPs yet').isVisible()).toBe(true);

    await go(page, `/pools/${ids.pool}`);
    await page.getByRole('button', { name: 'Delete pool' }).click();
    await page.getByRole('button', { name: 'Yes, delete pool' }).click();
    await page.waitForURL(`${consoleUrl}/pools?deleted=1`);
    await expect.poll(() => page.getByText('No pools yet').isVisible()).toBe(true);
  });

  it('logs out: the cookie is gone, the API session is revoked, pages need a login again', async () => {
    await go(page, '/');
    const token = (await ctx.cookies()).find((c) => c.name === 'slipstream_session')?.value ?? '';
    expect((await api('/v1/me', { token })).status).toBe(200);
    await page.getByRole('button', { name: 'Log out' }).click();
    await page.waitForURL(/\/login$/);
    expect((await ctx.cookies()).find((c) => c.name === 'slipstream_session')).toBeUndefined();
    expect((await api('/v1/me', { token })).status).toBe(401);
    await go(page, '/agents');
    expect(new URL(page.url()).pathname).toBe('/login');
  });
});
