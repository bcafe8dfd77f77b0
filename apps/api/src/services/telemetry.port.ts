// The seam between the agent-control side (which authenticates the agent and validates the report) and
// the telemetry side (which stores deltas, rolls them up and serves stats). The tenant and agent ids come
// from the agent's credential, never from the report.
import type { TelemetryReport } from '../dto/telemetry.dto.js';

export interface TelemetryIngest {
  ingest(tenantId: string, agentId: string, report: TelemetryReport): Promise<void>;
}

/** Nest injection token for the TelemetryIngest implementation. */
export const TELEMETRY_INGEST = Symbol('TelemetryIngest');
