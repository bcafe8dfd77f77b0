/**
 * The agent's control-plane connection (docs/agent-protocol.md): keeps the SSE stream open, applies each
 * `desired` state and ACKs or NACKs it, posts telemetry every second, and stops on revocation. The data
 * plane never waits on any of this: while the API is away the agent forwards on its last state.
 */
import type { IncomingMessage } from 'node:http';
import type { DesiredState } from '../config/desired-state.js';
import type { TelemetryReport } from '../agent/telemetry.js';
import { Backoff } from './backoff.js';
import { apiRequest, openRequest, parseApiUrl, problemText, type ApiTarget } from './http.js';
import { SseParser } from './sse.js';
import type { ControlState } from './state-file.js';

/** What the client needs from the agent (the real Agent, or a fake in unit tests). */
export interface ControlledAgent {
  applyState(state: DesiredState): Promise<void>;
  telemetry(): TelemetryReport;
}

export interface ControlClientOptions {
  state: ControlState;
  agent: ControlledAgent;
  log?: (msg: string) => void;
  telemetryIntervalMs?: number;
  /** No byte on the stream for this long (pings come every 15 s) means a dead connection. */
  idleTimeoutMs?: number;
  backoff?: Backoff;
}

export type ControlExit = 'revoked' | 'stopped';

const NACK_MAX = 2000;

export class ControlClient {
  private readonly target: ApiTarget;
  private readonly log: (msg: string) => void;
  private readonly backoff: Backoff;
  private stopped = false;
  private abort: AbortController | null = null;
  private telemetryTimer: NodeJS.Timeout | null = null;
  private telemetryInFlight = false;
  /** Whether the API accepted a report of this process (see TelemetryReport.previousAccepted). */
  private telemetryAccepted = false;
  private telemetryProblem = '';
  private applying: Promise<void> = Promise.resolve();
  private wake: (() => void) | null = null;
  /** Counts for tests and logs. */
  readonly stats = { connects: 0, acks: 0, nacks: 0, telemetrySent: 0, telemetryDropped: 0 };
  lastAckedRevision: number | null = null;

  constructor(private readonly opts: ControlClientOptions) {
    this.target = parseApiUrl(opts.state.apiUrl);
    this.log = opts.log ?? ((m) => console.log(`${new Date().toISOString()} control: ${m}`));
    this.backoff = opts.backoff ?? new Backoff(1000, 30_000);
  }

  /** Runs until revoked (resolves 'revoked') or stop() (resolves 'stopped'). */
  async run(): Promise<ControlExit> {
    this.telemetryTimer = setInterval(() => void this.sendTelemetry(), this.opts.telemetryIntervalMs ?? 1000);
    try {
      while (!this.stopped) {
        let outcome: 'revoked' | 'closed';
        try {
          outcome = await this.streamOnce();
        } catch (err) {
          if (this.stopped) break;
          this.log(`stream: ${(err as Error).message}`);
          outcome = 'closed';
        }
        if (outcome === 'revoked') {
          await this.applying;
          return 'revoked';
        }
        if (this.stopped) break;
        const ms = this.backoff.next();
        this.log(`reconnecting in ${ms} ms`);
        await new Promise<void>((r) => {
          const t = setTimeout(r, ms);
          this.wake = () => {
            clearTimeout(t);
            r();
          };
        });
        this.wake = null;
      }
      return 'stopped';
    } finally {
      if (this.telemetryTimer) clearInterval(this.telemetryTimer);
    }
  }

  stop(): void {
    this.stopped = true;
    this.abort?.abort();
    this.wake?.();
  }

  private async streamOnce(): Promise<'revoked' | 'closed'> {
    this.abort = new AbortController();
    let res: IncomingMessage;
    try {
      res = await openRequest(this.target, {
        method: 'GET',
        path: '/v1/agent/stream',
        token: this.opts.state.credential,
        signal: this.abort.signal,
        timeoutMs: 10_000,
      });
    } catch (err) {
      throw new Error(`connect failed: ${(err as Error).message}`, { cause: err });
    }
    if (res.statusCode === 401) {
      res.resume();
      this.log('the API refuses this agent credential (401): revoked or deleted');
      return 'revoked';
    }
    if (res.statusCode !== 200) {
      let body = '';
      res.setEncoding('utf8');
      for await (const c of res) body += c as string;
      throw new Error(
        `stream answered ${problemText({ status: res.statusCode ?? 0, headers: res.headers, body })}`,
      );
    }
    this.stats.connects++;
    this.log(`stream connected (${this.stats.connects})`);
    // The connect timeout was for the headers; from here the idle watchdog decides.
    res.socket.setTimeout(0);
    const idleMs = this.opts.idleTimeoutMs ?? 45_000;
    let idle = setTimeout(() => res.destroy(new Error(`no data for ${idleMs} ms`)), idleMs);
    const parser = new SseParser();
    res.setEncoding('utf8');
    let gotEvent = false;
    try {
      for await (const chunk of res) {
        clearTimeout(idle);
        idle = setTimeout(() => res.destroy(new Error(`no data for ${idleMs} ms`)), idleMs);
        for (const ev of parser.push(chunk as string)) {
          if (!gotEvent) {
            gotEvent = true;
            this.backoff.reset();
          }
          if (ev.event === 'desired') this.onDesired(ev.data);
          else if (ev.event === 'revoked') {
            this.log('the API revoked this agent');
            res.destroy();
            return 'revoked';
          }
        }
      }
    } catch (err) {
      if (this.stopped) return 'closed';
      throw err;
    } finally {
      clearTimeout(idle);
    }
    if (!this.stopped) this.log('stream closed by the API');
    return 'closed';
  }

  private onDesired(data: string): void {
    let revision: number | null = null;
    let state: DesiredState | null = null;
    let parseError: string | null = null;
    try {
      const msg = JSON.parse(data) as { revision?: unknown; state?: unknown };
      if (typeof msg.revision === 'number' && Number.isSafeInteger(msg.revision)) revision = msg.revision;
      if (revision === null) parseError = 'desired event without an integer revision';
      else if (typeof msg.state !== 'object' || msg.state === null)
        parseError = 'desired event without a state';
      else state = msg.state as DesiredState;
    } catch (err) {
      parseError = `desired event is not JSON: ${(err as Error).message}`;
    }
    // Applies run one after another in arrival order; each ACK names the revision it answers.
    this.applying = this.applying.then(async () => {
      if (this.stopped) return;
      if (revision === null) {
        this.log(`ignoring ${parseError}`);
        return;
      }
      if (parseError !== null || state === null) {
        await this.ack(revision, parseError ?? 'no state');
        return;
      }
      try {
        await this.opts.agent.applyState(state);
        this.log(`applied revision ${revision}`);
        await this.ack(revision, null);
      } catch (err) {
        this.log(`revision ${revision} rejected, keeping the last good state: ${(err as Error).message}`);
        await this.ack(revision, (err as Error).message);
      }
    });
  }

  private async ack(revision: number, error: string | null): Promise<void> {
    const json =
      error === null
        ? { revision, applied: true }
        : { revision, applied: false, error: error.slice(0, NACK_MAX) || 'rejected' };
    try {
      const r = await apiRequest(this.target, {
        method: 'POST',
        path: '/v1/agent/ack',
        token: this.opts.state.credential,
        json,
        timeoutMs: 5000,
      });
      if (r.status !== 204) {
        this.log(`ack of revision ${revision} answered ${problemText(r)}`);
        return;
      }
      if (error === null) {
        this.stats.acks++;
        this.lastAckedRevision = revision;
      } else this.stats.nacks++;
    } catch (err) {
      // The API's sweep re-sends the state to an agent whose applied revision lags, which re-triggers the ACK.
      this.log(`ack of revision ${revision} failed: ${(err as Error).message}`);
    }
  }

  /** Drops the report when the previous one is still in flight or the API is down: counters are cumulative. */
  private async sendTelemetry(): Promise<void> {
    if (this.stopped) return;
    if (this.telemetryInFlight) {
      this.stats.telemetryDropped++;
      return;
    }
    let report: TelemetryReport;
    try {
      report = this.opts.agent.telemetry();
    } catch {
      return; // nothing applied yet
    }
    this.telemetryInFlight = true;
    try {
      const r = await apiRequest(this.target, {
        method: 'POST',
        path: '/v1/agent/telemetry',
        token: this.opts.state.credential,
        json: { ...report, previousAccepted: this.telemetryAccepted },
        timeoutMs: 2000,
      });
      if (r.status === 204) {
        this.stats.telemetrySent++;
        this.telemetryAccepted = true;
        this.telemetryProblem = '';
      } else {
        this.stats.telemetryDropped++;
        // Once per distinct problem, not once a second.
        const problem = problemText(r);
        if (problem !== this.telemetryProblem) this.log(`telemetry answered ${problem}`);
        this.telemetryProblem = problem;
      }
    } catch {
      this.stats.telemetryDropped++;
    } finally {
      this.telemetryInFlight = false;
    }
  }
}
