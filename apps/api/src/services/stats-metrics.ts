// The API process's Prometheus series. One registry per app instance (not prom-client's global one), so
// several apps in one test process do not collide.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** Something that can tell how many jobs wait in a queue (BullMQ's Queue.getJobCounts). */
export interface QueueDepth {
  name: string;
  counts(): Promise<Record<string, number>>;
}

export class StatsMetrics {
  readonly registry = new Registry();
  readonly httpRequests: Counter<'method' | 'route' | 'status'>;
  readonly httpDuration: Histogram<'method' | 'route' | 'status'>;
  readonly reportsIngested: Counter;
  readonly telemetryBaselines: Counter;
  readonly healthChanges: Counter<'health'>;
  private readonly queues: QueueDepth[] = [];
  private agentStreams: (() => number) | null = null;

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'slipstream_api_' });
    this.httpRequests = new Counter({
      name: 'slipstream_http_requests_total',
      help: 'HTTP requests answered, by route template and status',
      labelNames: ['method', 'route', 'status'],
      registers: [this.registry],
    });
    this.httpDuration = new Histogram({
      name: 'slipstream_http_request_duration_seconds',
      help: 'HTTP request latency, by route template and status',
      labelNames: ['method', 'route', 'status'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [this.registry],
    });
    this.reportsIngested = new Counter({
      name: 'slipstream_telemetry_reports_ingested_total',
      help: 'Agent telemetry reports stored by this process',
      registers: [this.registry],
    });
    this.telemetryBaselines = new Counter({
      name: 'slipstream_telemetry_baselines_total',
      help: 'Reports taken as a baseline, not counted: the previous one of that agent was gone from Redis',
      registers: [this.registry],
    });
    this.healthChanges = new Counter({
      name: 'slipstream_backend_health_changes_total',
      help: 'Derived backend health changes; those into or out of unhealthy also bump the tenant revision',
      labelNames: ['health'],
      registers: [this.registry],
    });
    const queues = this.queues;
    const streams = () => this.agentStreams?.() ?? 0;
    new Gauge({
      name: 'slipstream_agent_streams_open',
      help: 'Agents connected to this API process (sum over processes for the fleet)',
      registers: [this.registry],
      collect() {
        this.set(streams());
      },
    });
    new Gauge({
      name: 'slipstream_queue_jobs',
      help: 'BullMQ jobs per queue and state',
      labelNames: ['queue', 'state'],
      registers: [this.registry],
      async collect() {
        this.reset();
        for (const q of queues) {
          // A Redis outage must not break the whole scrape; the queue's series are just absent then.
          const counts = await q.counts().catch(() => null);
          if (!counts) continue;
          for (const [state, n] of Object.entries(counts)) this.set({ queue: q.name, state }, n);
        }
      },
    });
  }

  /** Agents whose push stream this process holds (each agent is connected to exactly one process). */
  countAgentStreams(fn: () => number): void {
    this.agentStreams = fn;
  }

  addQueue(q: QueueDepth): void {
    this.queues.push(q);
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}

interface HookedRequest {
  method: string;
  routeOptions?: { url?: string };
}

/** Counts every answered request by route template (never the raw URL: ids would explode the series). */
export function installHttpMetrics(
  fastify: {
    addHook(
      name: 'onResponse',
      fn: (req: HookedRequest, reply: { statusCode: number; elapsedTime: number }) => Promise<void>,
    ): unknown;
  },
  metrics: StatsMetrics,
): void {
  fastify.addHook('onResponse', async (req, reply) => {
    const labels = {
      method: req.method,
      route: req.routeOptions?.url ?? 'unmatched',
      status: String(reply.statusCode),
    };
    metrics.httpRequests.inc(labels);
    metrics.httpDuration.observe(labels, reply.elapsedTime / 1000);
  });
}
