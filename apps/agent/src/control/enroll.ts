/** Exchanges a join token for the agent's own credential (POST /v1/agent/enroll), and gives it back. */
import { apiRequest, parseApiUrl, problemText, type ApiResponse } from './http.js';
import type { ControlState } from './state-file.js';

export interface EnrollInfo {
  name: string;
  underlay: string;
  version: string;
  hostname: string;
}

export async function enroll(apiUrl: string, joinToken: string, info: EnrollInfo): Promise<ControlState> {
  if (!joinToken.startsWith('sls_j_')) throw new Error('the join token must start with sls_j_');
  if (!/^(\d{1,3})(\.\d{1,3}){3}$/.test(info.underlay))
    throw new Error(`underlay ${info.underlay} is not IPv4`);
  const t = parseApiUrl(apiUrl);
  let r: ApiResponse;
  try {
    r = await apiRequest(t, {
      method: 'POST',
      path: '/v1/agent/enroll',
      json: { joinToken, ...info },
      timeoutMs: 15_000,
    });
  } catch (err) {
    throw new Error(`cannot reach the API at ${apiUrl}: ${(err as Error).message}`, { cause: err });
  }
  if (r.status !== 201) throw new Error(`enroll refused: ${problemText(r)}`);
  const b = JSON.parse(r.body) as {
    agentId: string;
    tenantId: string;
    role: 'host' | 'mux';
    credential: string;
  };
  return { apiUrl, agentId: b.agentId, tenantId: b.tenantId, role: b.role, credential: b.credential };
}

/**
 * Leaves for good (POST /v1/agent/leave, install.sh --uninstall): the API revokes this agent's credential.
 * 'already' when the API refuses the credential anyway (revoked or deleted before).
 */
export async function leave(st: ControlState): Promise<'left' | 'already'> {
  let r: ApiResponse;
  try {
    r = await apiRequest(parseApiUrl(st.apiUrl), {
      method: 'POST',
      path: '/v1/agent/leave',
      token: st.credential,
      timeoutMs: 10_000,
    });
  } catch (err) {
    throw new Error(`cannot reach the API at ${st.apiUrl}: ${(err as Error).message}`, { cause: err });
  }
  if (r.status === 204) return 'left';
  if (r.status === 401) return 'already';
  throw new Error(`leave refused: ${problemText(r)}`);
}
