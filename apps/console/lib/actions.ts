'use server';
// Every change the console makes goes through these server actions: they run on the Next.js server,
// call the API with the session's token, and return field-level messages from the API's problem+json.
import { randomUUID } from 'node:crypto';
import { revalidatePath } from 'next/cache';
import { redirect } from 'next/navigation';
import type { Schemas } from '@slipstream/api-client';
import { api, failure, publicApi, success } from './api';
import { compact, list, num, str, type FormState } from './forms';
import { clearSession, sessionToken, setSession } from './session';

/** Only same-site paths, so a crafted ?next= cannot send the user elsewhere after login. */
function safeNext(v: string | undefined): string {
  return v && v.startsWith('/') && !v.startsWith('//') && !v.startsWith('/\\') ? v : '/';
}

export async function login(_prev: FormState, fd: FormData): Promise<FormState> {
  const { data, error, response } = await (
    await publicApi()
  ).POST('/v1/auth/login', {
    body: compact({
      email: str(fd, 'email') ?? '',
      password: (fd.get('password') as string | null) ?? '',
      tenantId: str(fd, 'tenantId'),
    }),
  });
  if (!data) return failure(error, response, fd);
  await setSession(data.token, data.expiresAt);
  redirect(safeNext(str(fd, 'next')));
}

export async function signup(_prev: FormState, fd: FormData): Promise<FormState> {
  const { data, error, response } = await (
    await publicApi()
  ).POST('/v1/auth/signup', {
    body: {
      email: str(fd, 'email') ?? '',
      password: (fd.get('password') as string | null) ?? '',
      tenantName: str(fd, 'tenantName') ?? '',
    },
  });
  if (!data) return failure(error, response, fd);
  await setSession(data.token, data.expiresAt);
  redirect('/');
}

export async function logout(): Promise<void> {
  if (await sessionToken()) {
    // Best effort: the cookie goes either way, and an already-expired session is fine to forget.
    await (await api()).POST('/v1/auth/logout').catch(() => undefined);
  }
  await clearSession();
  redirect('/login');
}

/** If-Match only when the form carries a version: an absent header means an unconditional update. */
function ifMatch(etag: string | undefined): Record<string, string> {
  return etag ? { 'if-match': etag } : {};
}

/** The API's ETag for a resource version (W/"<version>"), from a row's hidden `version` input. */
function versionTag(fd: FormData): string | undefined {
  const v = str(fd, 'version');
  return v && /^\d+$/.test(v) ? `W/"${v}"` : undefined;
}

// ---- VIPs

function vipBody(fd: FormData) {
  return compact({
    name: str(fd, 'name'),
    address: str(fd, 'address'),
    protocol: str(fd, 'protocol'),
    port: num(fd, 'port'),
    poolId: str(fd, 'poolId'),
    distribution: str(fd, 'distribution'),
    idleTimeoutS: num(fd, 'idleTimeoutS'),
  });
}

function bypassBody(fd: FormData) {
  return compact({
    enabled: fd.get('bypass.enabled') === 'on',
    sourceCidrs: list(fd, 'bypass.sourceCidrs'),
    maxFlowsPerHost: num(fd, 'bypass.maxFlowsPerHost'),
    idleTimeoutS: num(fd, 'bypass.idleTimeoutS'),
    handshakeHoldMs: num(fd, 'bypass.handshakeHoldMs'),
  });
}

export async function createVip(_prev: FormState, fd: FormData): Promise<FormState> {
  const idem = str(fd, 'idem') ?? randomUUID();
  const body = { ...vipBody(fd), bypass: bypassBody(fd) } as Schemas['VipCreate'];
  const { data, error, response } = await (
    await api()
  ).POST('/v1/vips', {
    body,
    headers: { 'idempotency-key': idem },
  });
  // A failed create gets a fresh key, so the corrected resubmit is a new request and not a replay.
  if (!data) return failure(error, response, fd, randomUUID());
  revalidatePath('/vips');
  redirect(`/vips/${data.id}?created=1`);
}

/** Settings form and bypass editor both land here; each sends only its own fields. */
export async function updateVip(_prev: FormState, fd: FormData): Promise<FormState> {
  const id = str(fd, 'id') ?? '';
  const part = str(fd, 'part');
  const body = (part === 'bypass' ? { bypass: bypassBody(fd) } : vipBody(fd)) as Schemas['VipUpdate'];
  const { data, error, response } = await (
    await api()
  ).PATCH('/v1/vips/{id}', {
    params: { path: { id } },
    body,
    headers: ifMatch(str(fd, 'etag')),
  });
  if (!data) return failure(error, response, fd);
  revalidatePath(`/vips/${id}`);
  revalidatePath('/vips');
  return success(part === 'bypass' ? 'Bypass policy saved' : 'VIP saved', {
    etag: response.headers.get('etag') ?? undefined,
  });
}

export async function deleteVip(_prev: FormState, fd: FormData): Promise<FormState> {
  const id = str(fd, 'id') ?? '';
  const { error, response } = await (await api()).DELETE('/v1/vips/{id}', { params: { path: { id } } });
  if (!response.ok) return failure(error, response, fd);
  revalidatePath('/vips');
  redirect('/vips?deleted=1');
}

// ---- Pools and backends

function probeBody(fd: FormData) {
  const protocol = str(fd, 'probe.protocol');
  return compact({
    protocol,
    port: num(fd, 'probe.port') ?? null,
    path: protocol === 'http' ? (str(fd, 'probe.path') ?? null) : null,
    intervalMs: num(fd, 'probe.intervalMs'),
    timeoutMs: num(fd, 'probe.timeoutMs'),
    healthyThreshold: num(fd, 'probe.healthyThreshold'),
    unhealthyThreshold: num(fd, 'probe.unhealthyThreshold'),
  });
}

export async function createPool(_prev: FormState, fd: FormData): Promise<FormState> {
  const idem = str(fd, 'idem') ?? randomUUID();
  const body = compact({ name: str(fd, 'name'), healthProbe: probeBody(fd) }) as Schemas['PoolCreate'];
  const { data, error, response } = await (
    await api()
  ).POST('/v1/pools', {
    body,
    headers: { 'idempotency-key': idem },
  });
  if (!data) return failure(error, response, fd, randomUUID());
  revalidatePath('/pools');
  redirect(`/pools/${data.id}?created=1`);
}

export async function updatePool(_prev: FormState, fd: FormData): Promise<FormState> {
  const id = str(fd, 'id') ?? '';
  const body = compact({ name: str(fd, 'name'), healthProbe: probeBody(fd) }) as Schemas['PoolUpdate'];
  const { data, error, response } = await (
    await api()
  ).PATCH('/v1/pools/{id}', {
    params: { path: { id } },
    body,
    headers: ifMatch(str(fd, 'etag')),
  });
  if (!data) return failure(error, response, fd);
  revalidatePath(`/pools/${id}`);
  return success('Pool saved', { etag: response.headers.get('etag') ?? undefined });
}

export async function deletePool(_prev: FormState, fd: FormData): Promise<FormState> {
  const id = str(fd, 'id') ?? '';
  const { error, response } = await (await api()).DELETE('/v1/pools/{id}', { params: { path: { id } } });
  if (!response.ok) return failure(error, response, fd);
  revalidatePath('/pools');
  redirect('/pools?deleted=1');
}

export async function createBackend(_prev: FormState, fd: FormData): Promise<FormState> {
  const poolId = str(fd, 'poolId') ?? '';
  const idem = str(fd, 'idem') ?? randomUUID();
  const body = compact({
    address: str(fd, 'address'),
    port: num(fd, 'port'),
    weight: num(fd, 'weight'),
    state: str(fd, 'state'),
  }) as Schemas['BackendCreate'];
  const { data, error, response } = await (
    await api()
  ).POST('/v1/pools/{poolId}/backends', {
    params: { path: { poolId } },
    body,
    headers: { 'idempotency-key': idem },
  });
  if (!data) return failure(error, response, fd, randomUUID());
  revalidatePath(`/pools/${poolId}`);
  return success(`Backend ${data.address}:${data.port} added`, { idem: randomUUID() });
}

/**
 * A row of the backend table edits weight and state. The row carries the version it was rendered with and
 * sends it as If-Match, so an edit made from a stale table is refused (412) instead of silently overwriting
 * someone else's change.
 */
export async function updateBackend(_prev: FormState, fd: FormData): Promise<FormState> {
  const poolId = str(fd, 'poolId') ?? '';
  const id = str(fd, 'id') ?? '';
  const body = compact({ weight: num(fd, 'weight'), state: str(fd, 'state') }) as Schemas['BackendUpdate'];
  const { data, error, response } = await (
    await api()
  ).PATCH('/v1/pools/{poolId}/backends/{id}', {
    params: { path: { poolId, id } },
    body,
    headers: ifMatch(versionTag(fd)),
  });
  if (!data) return failure(error, response, fd);
  revalidatePath(`/pools/${poolId}`);
  return success(`Backend ${data.address}:${data.port} saved (weight ${data.weight}, ${data.state})`);
}

export async function deleteBackend(_prev: FormState, fd: FormData): Promise<FormState> {
  const poolId = str(fd, 'poolId') ?? '';
  const id = str(fd, 'id') ?? '';
  const { error, response } = await (
    await api()
  ).DELETE('/v1/pools/{poolId}/backends/{id}', {
    params: { path: { poolId, id } },
  });
  if (!response.ok) return failure(error, response, fd);
  revalidatePath(`/pools/${poolId}`);
  return success('Backend removed');
}

// ---- API keys, members, join tokens

export async function createApiKey(_prev: FormState, fd: FormData): Promise<FormState> {
  const idem = str(fd, 'idem') ?? randomUUID();
  const expires = str(fd, 'expiresAt');
  const body = compact({
    name: str(fd, 'name'),
    role: str(fd, 'role'),
    // A date input gives a day; the key stays valid until the end of it (UTC).
    expiresAt: expires ? (/^\d{4}-\d{2}-\d{2}$/.test(expires) ? `${expires}T23:59:59Z` : expires) : undefined,
  }) as Schemas['ApiKeyCreate'];
  const { data, error, response } = await (
    await api()
  ).POST('/v1/api-keys', {
    body,
    headers: { 'idempotency-key': idem },
  });
  if (!data) return failure(error, response, fd, randomUUID());
  revalidatePath('/api-keys');
  return success(`API key ${data.name} created`, { secret: data.secret ?? undefined, idem: randomUUID() });
}

export async function revokeApiKey(_prev: FormState, fd: FormData): Promise<FormState> {
  const id = str(fd, 'id') ?? '';
  const { error, response } = await (await api()).DELETE('/v1/api-keys/{id}', { params: { path: { id } } });
  if (!response.ok) return failure(error, response, fd);
  revalidatePath('/api-keys');
  return success('API key revoked');
}

export async function addMember(_prev: FormState, fd: FormData): Promise<FormState> {
  const body = compact({ email: str(fd, 'email'), role: str(fd, 'role') }) as Schemas['MemberCreate'];
  const { data, error, response } = await (await api()).POST('/v1/members', { body });
  if (!data) return failure(error, response, fd);
  revalidatePath('/members');
  return success(`${data.email} added as ${data.role}`);
}

export async function updateMember(_prev: FormState, fd: FormData): Promise<FormState> {
  const id = str(fd, 'id') ?? '';
  const { data, error, response } = await (
    await api()
  ).PATCH('/v1/members/{id}', {
    params: { path: { id } },
    body: { role: str(fd, 'role') } as Schemas['MemberUpdate'],
    headers: ifMatch(versionTag(fd)),
  });
  if (!data) return failure(error, response, fd);
  revalidatePath('/members');
  return success(`${data.email} is now ${data.role}`);
}

export async function removeMember(_prev: FormState, fd: FormData): Promise<FormState> {
  const id = str(fd, 'id') ?? '';
  const { error, response } = await (await api()).DELETE('/v1/members/{id}', { params: { path: { id } } });
  if (!response.ok) return failure(error, response, fd);
  revalidatePath('/members');
  return success('Member removed');
}

export async function createJoinToken(_prev: FormState, fd: FormData): Promise<FormState> {
  const idem = str(fd, 'idem') ?? randomUUID();
  const body = compact({
    name: str(fd, 'name'),
    role: str(fd, 'role'),
    expiresInS: num(fd, 'expiresInS'),
  }) as Schemas['JoinTokenCreate'];
  const { data, error, response } = await (
    await api()
  ).POST('/v1/join-tokens', {
    body,
    headers: { 'idempotency-key': idem },
  });
  if (!data) return failure(error, response, fd, randomUUID());
  revalidatePath('/agents');
  return success(`Join token ${data.name} created`, { secret: data.secret ?? undefined, idem: randomUUID() });
}

export async function revokeAgent(_prev: FormState, fd: FormData): Promise<FormState> {
  const id = str(fd, 'id') ?? '';
  const { error, response } = await (
    await api()
  ).POST('/v1/agents/{id}/revoke', { params: { path: { id } } });
  if (!response.ok) return failure(error, response, fd);
  revalidatePath('/agents');
  return success('Agent revoked: its credential no longer works');
}

export async function rotateBypassKey(_prev: FormState, fd: FormData): Promise<FormState> {
  const { data, error, response } = await (await api()).POST('/v1/bypass-keys/rotate', {});
  if (!data) return failure(error, response, fd);
  revalidatePath('/settings');
  return success(
    `Redirect key ${data.keyId} is active; an older key stays valid until every agent has applied the new one`,
  );
}
