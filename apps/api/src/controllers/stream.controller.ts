// Live stream for the console: Server-Sent Events. Every second `stats` (each VIP's figures over the last
// few seconds) and `revision` whenever the tenant's config revision changes. Everything is read from
// PostgreSQL, so it works whichever API process holds the connection. Authentication is the usual bearer
// header: a browser's EventSource cannot set headers, so the console opens the stream server-side and
// relays it (never put the token in the URL, where logs and proxies would keep it).
import { Controller, Get, Inject, Logger, Res } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import type { Principal } from '../common/principal.js';
import { StreamQuery } from '../dto/stats.dto.js';
import { Caller, Endpoint, Query } from '../http/endpoint.js';
import { DATABASE, type PrismaDatabase } from '../repositories/index.js';
import { StatsService } from '../services/stats.service.js';

const TICK_MS = 1000;

@Controller('v1')
export class StreamController {
  private readonly log = new Logger('Stream');

  constructor(
    @Inject(StatsService) private readonly stats: StatsService,
    @Inject(DATABASE) private readonly db: PrismaDatabase,
  ) {}

  @Get('stream')
  @Endpoint({
    operationId: 'streamStats',
    summary:
      'Live Server-Sent Events (text/event-stream): `stats` every second, `revision` when the config revision changes',
    tag: 'stats',
    role: 'viewer',
    query: StreamQuery,
  })
  stream(@Caller() p: Principal, @Query() q: StreamQuery, @Res() res: FastifyReply): void {
    res.hijack();
    const raw = res.raw;
    raw.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      connection: 'keep-alive',
      // Tells nginx-style proxies not to buffer the stream.
      'x-accel-buffering': 'no',
    });
    let sent = 0;
    let closed = false;
    let revision: bigint | null = null;
    let timer: NodeJS.Timeout | undefined;
    const close = () => {
      if (closed) return;
      closed = true;
      clearTimeout(timer);
      raw.end();
    };
    raw.on('close', close);
    const send = (event: string, data: unknown) => {
      raw.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
      sent++;
    };
    const tick = async () => {
      if (closed) return;
      try {
        const [rev, vips] = await Promise.all([
          this.db.repos.telemetry.revision(p.tenantId),
          this.stats.current(p.tenantId),
        ]);
        if (closed) return;
        if (rev !== null && rev !== revision) {
          revision = rev;
          send('revision', { revision: rev.toString() });
        }
        send('stats', { at: new Date().toISOString(), vips });
      } catch (err) {
        // A database hiccup skips one tick; the stream itself stays open.
        this.log.warn(`stream tick failed: ${String(err)}`);
      }
      if (q.maxEvents !== undefined && sent >= q.maxEvents) close();
      else if (!closed) timer = setTimeout(() => void tick(), TICK_MS);
    };
    void tick();
  }
}
