import { Controller, Delete, Get, Inject, Post, Res } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import type { Principal } from '../common/principal.js';
import { StreamHub } from '../agent-control/push.js';
import { IdParams } from '../dto/common.js';
import {
  AckRequest,
  BypassKeyDto,
  BypassKeyList,
  EnrollRequest,
  EnrollResponse,
} from '../dto/agent-control.dto.js';
import { TelemetryReport } from '../dto/telemetry.dto.js';
import { AgentCaller, Body, Caller, Endpoint, Params } from '../http/endpoint.js';
import { type AgentPrincipal, AgentControlService } from '../services/agent-control.service.js';

type Id = { id: string };

/** Calls made by agents (docs/agent-protocol.md); user tokens and API keys are refused here. */
@Controller('v1/agent')
export class AgentProtocolController {
  constructor(
    @Inject(AgentControlService) private readonly svc: AgentControlService,
    @Inject(StreamHub) private readonly hub: StreamHub,
  ) {}

  @Post('enroll')
  @Endpoint({
    operationId: 'enrollAgent',
    summary: 'Exchange a join token for an agent credential (shown once)',
    tag: 'agent-protocol',
    role: 'public',
    body: EnrollRequest,
    response: EnrollResponse,
    status: 201,
    rateLimited: 'enroll',
    errors: [401, 429],
  })
  enroll(@Body() b: EnrollRequest) {
    return this.svc.enroll(b);
  }

  @Get('stream')
  @Endpoint({
    operationId: 'agentStream',
    summary:
      'Server-Sent Events: `desired` on connect and on every new revision, `ping` every 15 s, `revoked`',
    tag: 'agent-protocol',
    role: 'agent',
  })
  async stream(@AgentCaller() a: AgentPrincipal, @Res() reply: FastifyReply) {
    reply.hijack();
    try {
      await this.hub.open(a, reply.raw);
    } catch {
      // Headers may be out already; the agent sees the stream end and reconnects with backoff.
      reply.raw.end();
    }
  }

  @Post('ack')
  @Endpoint({
    operationId: 'agentAck',
    summary: 'ACK (applied) or NACK (rejected, with the error) a revision',
    tag: 'agent-protocol',
    role: 'agent',
    body: AckRequest,
    status: 204,
  })
  async ack(@AgentCaller() a: AgentPrincipal, @Body() b: AckRequest) {
    await this.svc.ack(a, b);
  }

  @Post('telemetry')
  @Endpoint({
    operationId: 'agentTelemetry',
    summary: 'Counters and backend health, at least once a second; also a heartbeat',
    tag: 'agent-protocol',
    role: 'agent',
    body: TelemetryReport,
    status: 204,
  })
  async telemetry(@AgentCaller() a: AgentPrincipal, @Body() b: TelemetryReport) {
    await this.svc.telemetryReport(a, b);
  }

  @Post('leave')
  @Endpoint({
    operationId: 'agentLeave',
    summary: 'The agent leaves for good (install.sh --uninstall): its own credential is revoked at once',
    tag: 'agent-protocol',
    role: 'agent',
    status: 204,
  })
  async leave(@AgentCaller() a: AgentPrincipal) {
    await this.svc.leave(a);
  }
}

@Controller('v1')
export class AgentAdminController {
  constructor(@Inject(AgentControlService) private readonly svc: AgentControlService) {}

  @Post('agents/:id/revoke')
  @Endpoint({
    operationId: 'revokeAgent',
    summary: 'Revoke an agent: its credential answers 401 and its stream closes within 2 s',
    tag: 'agents',
    role: 'admin',
    params: IdParams,
    status: 204,
  })
  async revoke(@Caller() p: Principal, @Params() { id }: Id) {
    await this.svc.revoke(p, id);
  }

  @Delete('agents/:id')
  @Endpoint({
    operationId: 'deleteAgent',
    summary: 'Delete an agent (revokes it)',
    tag: 'agents',
    role: 'admin',
    params: IdParams,
    status: 204,
  })
  async remove(@Caller() p: Principal, @Params() { id }: Id) {
    await this.svc.remove(p, id);
  }

  @Get('bypass-keys')
  @Endpoint({
    operationId: 'listBypassKeys',
    summary: 'Redirect-signing keys: ids, state and dates (never the secrets)',
    tag: 'agents',
    role: 'viewer',
    response: BypassKeyList,
  })
  async listKeys(@Caller() p: Principal) {
    return { items: await this.svc.listKeys(p) };
  }

  @Post('bypass-keys/rotate')
  @Endpoint({
    operationId: 'rotateBypassKey',
    summary: 'Add a new active redirect key; the previous one retires once every agent applied it',
    tag: 'agents',
    role: 'admin',
    response: BypassKeyDto,
    status: 201,
    errors: [409],
  })
  rotate(@Caller() p: Principal) {
    return this.svc.rotate(p);
  }
}
