// The browser's charts poll this route; it calls the API server-side with the session cookie's token, so the
// token never reaches browser JavaScript. It passes the API's status through (404: the VIP is gone). Polling
// every 2 s is enough for charts of per-second buckets; relaying GET /v1/stream would only save the reads.
import { NextResponse, type NextRequest } from 'next/server';
import { api } from '../../../lib/api';
import { sessionToken } from '../../../lib/session';

export const dynamic = 'force-dynamic';

export async function GET(req: NextRequest) {
  if (!(await sessionToken())) return NextResponse.json({ title: 'Not logged in' }, { status: 401 });
  const vip = req.nextUrl.searchParams.get('vip');
  const client = await api();
  const r = vip
    ? await client.GET('/v1/vips/{id}/stats', { params: { path: { id: vip }, query: { windowS: 300 } } })
    : await client.GET('/v1/stats', { params: { query: { windowS: 300 } } });
  const body: unknown = r.data ?? r.error ?? null;
  return NextResponse.json(body, { status: r.response.status, headers: { 'cache-control': 'no-store' } });
}
