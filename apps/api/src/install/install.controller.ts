// The agent install path, outside /v1 and outside the OpenAPI document (like /metrics): a shell script and
// two downloads a host fetches with curl before it has any credential. Nothing here is secret, so all of
// it is public; integrity comes from the sha256 sums the script embeds and checks.
import { createReadStream } from 'node:fs';
import { Controller, Get, Inject, Req, Res } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { AppError, ErrorCode } from '../common/errors.js';
import { APP_CONFIG, type AppConfig } from '../config.js';
import { InstallArtifacts } from './artifacts.js';

// Host headers end up inside a script run as root: only plain host names, IPv4 and bracketed IPv6.
const SAFE_HOST = /^([A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(:\d{1,5})?$/;

/** The API's URL as hosts reach it: SLIPSTREAM_PUBLIC_URL, else the request's own scheme and Host. */
export function publicUrl(config: AppConfig, req: FastifyRequest): string {
  if (config.SLIPSTREAM_PUBLIC_URL) return config.SLIPSTREAM_PUBLIC_URL;
  const host = req.host;
  if (!host || !SAFE_HOST.test(host)) {
    throw new AppError(
      ErrorCode.Validation,
      'the Host header is not a plain host[:port]; set SLIPSTREAM_PUBLIC_URL on the API',
    );
  }
  return `${req.protocol}://${host}`;
}

function checksumHeaders(res: FastifyReply, sha256: string): void {
  void res
    .header('etag', `"${sha256}"`)
    .header('x-checksum-sha256', sha256)
    .header('repr-digest', `sha-256=:${Buffer.from(sha256, 'hex').toString('base64')}:`)
    .header('cache-control', 'no-cache');
}

function notModified(req: FastifyRequest, sha256: string): boolean {
  const inm = req.headers['if-none-match'];
  return typeof inm === 'string' && inm.split(',').some((t) => t.trim() === `"${sha256}"`);
}

@Controller()
export class InstallController {
  constructor(
    @Inject(InstallArtifacts) private readonly artifacts: InstallArtifacts,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  @Get('install.sh')
  async script(@Req() req: FastifyRequest, @Res() res: FastifyReply): Promise<void> {
    const text = await this.artifacts.installScript(publicUrl(this.config, req));
    await res
      .header('content-type', 'text/x-shellscript; charset=utf-8')
      .header('cache-control', 'no-store')
      .send(text);
  }

  @Get('agent/slipstream-agent.mjs')
  async bundle(@Req() req: FastifyRequest, @Res() res: FastifyReply): Promise<void> {
    const b = await this.artifacts.bundle();
    checksumHeaders(res, b.sha256);
    if (notModified(req, b.sha256)) {
      await res.status(304).send();
      return;
    }
    await res.header('content-type', 'text/javascript; charset=utf-8').send(b.bytes);
  }

  @Get('agent/slipstream-synack-hold')
  async holdHelper(@Req() req: FastifyRequest, @Res() res: FastifyReply): Promise<void> {
    const h = await this.artifacts.holdHelper();
    if (!h)
      throw new AppError(
        ErrorCode.NotFound,
        'the agent was built without its SYN-ACK hold helper (no C compiler)',
      );
    checksumHeaders(res, h.sha256);
    if (notModified(req, h.sha256)) {
      await res.status(304).send();
      return;
    }
    await res.header('content-type', 'application/octet-stream').send(h.bytes);
  }

  @Get('agent/node')
  async node(@Req() req: FastifyRequest, @Res() res: FastifyReply): Promise<void> {
    const n = await this.artifacts.nodeRuntime();
    checksumHeaders(res, n.sha256);
    if (notModified(req, n.sha256)) {
      await res.status(304).send();
      return;
    }
    await res
      .header('content-type', 'application/octet-stream')
      .header('content-length', String(n.size))
      .header('x-node-version', n.version)
      .header('x-node-arch', n.arch)
      .send(createReadStream(n.path));
  }
}
