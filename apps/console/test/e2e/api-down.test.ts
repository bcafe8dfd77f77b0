// A second console pointed at a port where no API listens: pages must say so instead of failing blankly.
import { spawn, type ChildProcess } from 'node:child_process';
import { resolve } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { freePort } from '@slipstream/devstack';

const root = resolve(import.meta.dirname, '../../../..');
let child: ChildProcess | undefined;
let url = '';
let deadApi = '';

beforeAll(async () => {
  const [port, closed] = [await freePort(), await freePort()];
  url = `http://127.0.0.1:${port}`;
  deadApi = `http://127.0.0.1:${closed}`;
  child = spawn(
    process.execPath,
    [resolve(root, 'node_modules/next/dist/bin/next'), 'start', '-p', String(port), '-H', '127.0.0.1'],
    {
      cwd: resolve(root, 'apps/console'),
      env: {
        ...process.env,
        SLIPSTREAM_API_URL: deadApi,
        NEXT_TELEMETRY_DISABLED: '1',
        NODE_ENV: 'production',
      },
      stdio: 'ignore',
    },
  );
  for (let i = 0; i < 150; i++) {
    try {
      if ((await fetch(`${url}/login`)).status === 200) return;
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error('console did not start');
});

afterAll(() => {
  child?.kill('SIGTERM');
});

it('shows the API as unreachable on the login page', async () => {
  // React separates adjacent text with <!-- --> in server-rendered HTML.
  const html = (await (await fetch(`${url}/login`)).text()).replaceAll('<!-- -->', '');
  expect(html).toContain(`API unreachable at ${deadApi}`);
});

it('explains a dead API to a logged-in user instead of a blank error page', async () => {
  const res = await fetch(`${url}/vips`, { headers: { cookie: 'slipstream_session=any-token' } });
  const html = (await res.text()).replaceAll('<!-- -->', '');
  expect(html).toContain('The console cannot reach the API');
  expect(html).toContain(deadApi);
});

it('still sends a visitor without a session to the login page', async () => {
  const res = await fetch(`${url}/vips`, { redirect: 'manual' });
  expect(res.status).toBe(307);
  expect(res.headers.get('location')).toMatch(/\/login$/);
});
