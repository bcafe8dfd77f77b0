// A stand-in for a host or mux agent that speaks the real agent protocol to the real API (docs/agent-protocol.md):
// it enrolls with a join token through POST /v1/agent/enroll and posts cumulative TelemetryReports through
// POST /v1/agent/telemetry once a second. Only the counters are made up; every call is the API's real one.
import { randomUUID } from 'node:crypto';
import type { Schemas, TelemetryReport } from '@slipstream/api-client';

type VipCounters = TelemetryReport['vips'][number];
type Health = NonNullable<TelemetryReport['backendHealth']>[number];

/** What one second adds to the cumulative counters; `ttbCounts` is per histogram bucket. */
export interface PerSecond {
  vipId?: string;
  packetsMux: number;
  packetsDirect: number;
  flowsNew: number;
  flowsBypassed: number;
  ttbCounts: number[];
}

export const TTB_BUCKETS_MS = [0.5, 1, 2, 5, 10, 20, 50, 100, 250, 1000];
/** A representative value inside each bucket, only for sumMs. */
const BUCKET_MID_MS = [0.25, 0.75, 1.5, 3.5, 7.5, 15, 35, 75, 175, 625, 1000];
const PACKET_BYTES = 800;

async function post(apiUrl: string, path: string, body: unknown, token?: string): Promise<Response> {
  return fetch(`${apiUrl}${path}`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      ...(token ? { authorization: `Bearer ${token}` } : {}),
    },
    body: JSON.stringify(body),
  });
}

export class FakeAgent {
  readonly bootId = randomUUID();
  agentId = '';
  credential = '';
  /** HTTP status of every telemetry post, so a test can require that the API took all of them. */
  readonly statuses: number[] = [];
  rate: PerSecond | null = null;
  health: Health[] = [];
  appliedRevision = 0;
  private readonly totals = {
    vip: null as VipCounters | null,
    ttb: new Array<number>(TTB_BUCKETS_MS.length + 1).fill(0),
    ttbSumMs: 0,
    accepted: 0,
  };
  private timer: ReturnType<typeof setTimeout> | undefined;
  private stopped = false;
  private inFlight: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly apiUrl: string,
    readonly name: string,
    readonly underlay: string,
  ) {}

  /** Creates a join token as `adminToken` and enrolls with it through the real enroll call. */
  async enroll(adminToken: string, role: 'host' | 'mux'): Promise<void> {
    const jt = await post(
      this.apiUrl,
      '/v1/join-tokens',
      { name: `${this.name}-token`, role, expiresInS: 600 },
      adminToken,
    );
    if (jt.status !== 201) throw new Error(`join token: HTTP ${jt.status} ${await jt.text()}`);
    const { secret } = (await jt.json()) as Schemas['JoinTokenCreated'];
    const res = await post(this.apiUrl, '/v1/agent/enroll', {
      joinToken: secret,
      name: this.name,
      underlay: this.underlay,
      version: '0.1.0-e2e',
      hostname: `${this.name}.e2e.test`,
    });
    if (res.status !== 201) throw new Error(`enroll: HTTP ${res.status} ${await res.text()}`);
    const body = (await res.json()) as Schemas['AgentEnrolled'];
    this.agentId = body.agentId;
    this.credential = body.credential;
  }

  /** ACKs or NACKs a revision through the real call, as the agent does after applying (or failing) a state. */
  async ack(revision: number, error?: string): Promise<number> {
    const res = await post(
      this.apiUrl,
      '/v1/agent/ack',
      error ? { revision, applied: false, error } : { revision, applied: true },
      this.credential,
    );
    return res.status;
  }

  /**
   * Posts a report in the middle of every wall-clock second, stamped with that second, so each one-second
   * bucket of the API's series gets exactly one report and the per-second rates equal `rate`.
   */
  start(): void {
    const schedule = () => {
      if (this.stopped) return;
      const now = Date.now();
      const next = Math.floor(now / 1000) * 1000 + (now % 1000 < 500 ? 500 : 1500);
      this.timer = setTimeout(() => {
        this.inFlight = this.report(new Date(next)).catch(() => this.statuses.push(0));
        schedule();
      }, next - now);
    };
    schedule();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.inFlight;
  }

  private report(at: Date): Promise<void> {
    const r = this.rate;
    if (r?.vipId) {
      const v = (this.totals.vip ??= {
        vipId: r.vipId,
        packetsMux: 0,
        packetsDirect: 0,
        bytesMux: 0,
        bytesDirect: 0,
        flowsNew: 0,
        flowsBypassed: 0,
        bypassEntries: 0,
        redirectsSent: 0,
        muxPackets: 0,
      });
      v.packetsMux += r.packetsMux;
      v.packetsDirect += r.packetsDirect;
      v.bytesMux += r.packetsMux * PACKET_BYTES;
      v.bytesDirect += r.packetsDirect * PACKET_BYTES;
      v.flowsNew += r.flowsNew;
      v.flowsBypassed += r.flowsBypassed;
      v.bypassEntries = r.flowsBypassed * 30;
      r.ttbCounts.forEach((n, i) => {
        this.totals.ttb[i]! += n;
        this.totals.ttbSumMs += n * BUCKET_MID_MS[i]!;
      });
      this.totals.accepted += r.flowsBypassed;
    }
    const body: TelemetryReport = {
      bootId: this.bootId,
      at: at.toISOString(),
      appliedRevision: this.appliedRevision,
      vips: this.totals.vip ? [{ ...this.totals.vip }] : [],
      redirectsReceived: { accepted: this.totals.accepted, rejected: {} },
      timeToBypass: {
        bucketsMs: TTB_BUCKETS_MS,
        counts: [...this.totals.ttb],
        sumMs: Math.round(this.totals.ttbSumMs * 1000) / 1000,
        count: this.totals.ttb.reduce((a, b) => a + b, 0),
      },
      backendHealth: this.health,
    };
    return post(this.apiUrl, '/v1/agent/telemetry', body, this.credential).then((res) => {
      this.statuses.push(res.status);
    });
  }
}
