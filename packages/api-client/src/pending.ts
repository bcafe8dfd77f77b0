// Endpoints the console already uses but the API does not serve yet: they arrive with agent telemetry
// (issue #4). Typed here by hand, in openapi-typescript's layout, so the console calls them through the same
// typed client; until then the API answers 404 and the console shows its "live data arrives with agent
// telemetry" empty state. Delete each entry as soon as the generated schema contains the path.

/** One sample of a VIP's (or the whole tenant's) data-plane counters, already turned into rates. */
export interface StatPoint {
  /** ISO 8601 end of the sampling interval. */
  at: string;
  newFlowsPerS: number;
  /** Packets per second that went through a mux. */
  muxPacketsPerS: number;
  /** Packets per second sent straight from client host to backend host (bypassed). */
  directPacketsPerS: number;
  /** directPackets / (muxPackets + directPackets) over the interval, 0..1; null when no packet. */
  bypassRatio: number | null;
  /** Time from a flow's first packet to its redirect being installed; null when no flow was bypassed. */
  timeToBypassP50Ms: number | null;
  timeToBypassP99Ms: number | null;
}

export interface StatsSeries {
  intervalS: number;
  points: StatPoint[];
}

export interface TenantStats extends StatsSeries {
  vips: { vipId: string; current: StatPoint | null }[];
}

type NoParams = { query?: never; header?: never; path?: never; cookie?: never };
type Json<T> = { headers: { [name: string]: unknown }; content: { 'application/json': T } };
type Unused = {
  put?: never;
  post?: never;
  delete?: never;
  options?: never;
  head?: never;
  patch?: never;
  trace?: never;
};

export interface PendingPaths {
  '/v1/stats': {
    parameters: NoParams;
    get: {
      parameters: { query?: { windowS?: number }; header?: never; path?: never; cookie?: never };
      requestBody?: never;
      responses: { 200: Json<TenantStats> };
    };
  } & Unused;
  '/v1/vips/{id}/stats': {
    parameters: NoParams;
    get: {
      parameters: { query?: { windowS?: number }; header?: never; path: { id: string }; cookie?: never };
      requestBody?: never;
      responses: { 200: Json<StatsSeries> };
    };
  } & Unused;
}
