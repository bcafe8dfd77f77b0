/** The agent's control-plane identity on disk ({apiUrl, agentId, tenantId, credential}), mode 0600. */
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { dirname, basename, join } from 'node:path';
import { parseApiUrl } from './http.js';

export interface ControlState {
  apiUrl: string;
  agentId: string;
  tenantId: string;
  role: 'host' | 'mux';
  credential: string;
}

const KEYS = ['apiUrl', 'agentId', 'tenantId', 'role', 'credential'] as const;

export function validateControlState(v: unknown): ControlState {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error('state file: not an object');
  const o = v as Record<string, unknown>;
  for (const k of Object.keys(o))
    if (!(KEYS as readonly string[]).includes(k)) throw new Error(`state file: unknown field ${k}`);
  for (const k of KEYS)
    if (typeof o[k] !== 'string' || o[k] === '')
      throw new Error(`state file: ${k} must be a non-empty string`);
  if (o.role !== 'host' && o.role !== 'mux') throw new Error('state file: role must be host or mux');
  if (!(o.credential as string).startsWith('sls_a_'))
    throw new Error('state file: credential is not an agent credential');
  parseApiUrl(o.apiUrl as string);
  return o as unknown as ControlState;
}

export function readControlState(file: string): ControlState {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new Error(`cannot read state file ${file}: ${(err as Error).message}`, { cause: err });
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new Error(`state file ${file} is not JSON: ${(err as Error).message}`, { cause: err });
  }
  return validateControlState(parsed);
}

/** Writes through a 0600 temporary file in the same directory, fsynced, then renamed over the target. */
export function writeControlState(file: string, state: ControlState): void {
  validateControlState(state);
  const tmp = join(dirname(file), `.${basename(file)}.${process.pid}.tmp`);
  const fd = openSync(tmp, 'w', 0o600);
  try {
    try {
      writeSync(fd, JSON.stringify(state, null, 2) + '\n');
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
  renameSync(tmp, file);
}
