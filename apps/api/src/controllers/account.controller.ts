import { Controller, Delete, Get, Inject, Patch, Post, Res } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import type { Principal } from '../common/principal.js';
import { IdParams, PageQuery, type RoleName } from '../dto/common.js';
import {
  AgentDto,
  AgentPage,
  ApiKeyCreate,
  ApiKeyCreated,
  ApiKeyDto,
  ApiKeyPage,
  AuditPage,
  AuditQuery,
  TenantListDto,
  JoinTokenCreate,
  JoinTokenCreated,
  JoinTokenDto,
  JoinTokenPage,
  LoginRequest,
  MeDto,
  MemberCreate,
  MemberDto,
  MemberPage,
  MemberUpdate,
  SessionDto,
  SignupRequest,
} from '../dto/account.dto.js';
import { Body, Caller, Endpoint, Idem, IfMatch, Params, Query, replayAware } from '../http/endpoint.js';
import {
  AgentService,
  ApiKeyService,
  AuditService,
  AuthService,
  MemberService,
} from '../services/account.service.js';
import type { IdempotencyRequest } from '../services/change-runner.js';

type Id = { id: string };

@Controller('v1')
export class AuthController {
  constructor(@Inject(AuthService) private readonly auth: AuthService) {}

  @Post('auth/signup')
  @Endpoint({
    operationId: 'signup',
    summary: 'Create a tenant and its owner; returns a session',
    tag: 'auth',
    role: 'public',
    body: SignupRequest,
    response: SessionDto,
    status: 201,
    rateLimited: true,
    errors: [409, 429],
  })
  signup(@Body() b: SignupRequest) {
    return this.auth.signup(b);
  }

  @Post('auth/login')
  @Endpoint({
    operationId: 'login',
    summary: 'Exchange email and password for a bearer token',
    tag: 'auth',
    role: 'public',
    body: LoginRequest,
    response: SessionDto,
    rateLimited: true,
    errors: [429],
  })
  login(@Body() b: LoginRequest) {
    return this.auth.login(b);
  }

  @Post('auth/logout')
  @Endpoint({
    operationId: 'logout',
    summary: 'End the current session',
    tag: 'auth',
    role: 'viewer',
    status: 204,
  })
  async logout(@Caller() p: Principal) {
    await this.auth.logout(p);
  }

  @Get('auth/tenants')
  @Endpoint({
    operationId: 'listMyTenants',
    summary: "Tenants the caller belongs to (a session's user: every membership; an API key: its tenant)",
    tag: 'auth',
    role: 'viewer',
    response: TenantListDto,
  })
  tenants(@Caller() p: Principal) {
    return this.auth.tenants(p);
  }

  @Get('me')
  @Endpoint({
    operationId: 'getMe',
    summary: 'Who the token belongs to',
    tag: 'auth',
    role: 'viewer',
    response: MeDto,
  })
  me(@Caller() p: Principal) {
    return this.auth.me(p);
  }
}

@Controller('v1/members')
export class MemberController {
  constructor(@Inject(MemberService) private readonly members: MemberService) {}

  @Get()
  @Endpoint({
    operationId: 'listMembers',
    summary: 'List members',
    tag: 'members',
    role: 'viewer',
    query: PageQuery,
    response: MemberPage,
  })
  list(@Caller() p: Principal, @Query() q: PageQuery) {
    return this.members.list(p, q);
  }

  @Post()
  @Endpoint({
    operationId: 'addMember',
    summary: 'Add an existing account to this tenant with a role',
    tag: 'members',
    role: 'admin',
    body: MemberCreate,
    response: MemberDto,
    status: 201,
    idempotent: true,
    etag: true,
    errors: [409],
  })
  async create(
    @Caller() p: Principal,
    @Body() b: MemberCreate,
    @Idem() idem: IdempotencyRequest | undefined,
    @Res({ passthrough: true }) res: FastifyReply,
  ) {
    return replayAware(res, await this.members.create(p, b, idem));
  }

  @Get(':id')
  @Endpoint({
    operationId: 'getMember',
    summary: 'Get a member',
    tag: 'members',
    role: 'viewer',
    params: IdParams,
    response: MemberDto,
    etag: true,
  })
  get(@Caller() p: Principal, @Params() { id }: Id) {
    return this.members.get(p, id);
  }

  @Patch(':id')
  @Endpoint({
    operationId: 'updateMember',
    summary: "Change a member's role",
    tag: 'members',
    role: 'admin',
    params: IdParams,
    body: MemberUpdate,
    response: MemberDto,
    ifMatch: true,
    etag: true,
    errors: [409],
  })
  update(
    @Caller() p: Principal,
    @Params() { id }: Id,
    @Body() b: { role: RoleName },
    @IfMatch() v: number | undefined,
  ) {
    return this.members.update(p, id, b.role, v);
  }

  @Delete(':id')
  @Endpoint({
    operationId: 'removeMember',
    summary: 'Remove a member (their sessions for this tenant end)',
    tag: 'members',
    role: 'admin',
    params: IdParams,
    status: 204,
    ifMatch: true,
    errors: [409],
  })
  async delete(@Caller() p: Principal, @Params() { id }: Id, @IfMatch() v: number | undefined) {
    await this.members.delete(p, id, v);
  }
}

@Controller('v1/api-keys')
export class ApiKeyController {
  constructor(@Inject(ApiKeyService) private readonly keys: ApiKeyService) {}

  @Get()
  @Endpoint({
    operationId: 'listApiKeys',
    summary: 'List API keys (prefix only)',
    tag: 'api-keys',
    role: 'admin',
    query: PageQuery,
    response: ApiKeyPage,
  })
  list(@Caller() p: Principal, @Query() q: PageQuery) {
    return this.keys.list(p, q);
  }

  @Post()
  @Endpoint({
    operationId: 'createApiKey',
    summary: 'Create an API key; the secret is in this response only',
    tag: 'api-keys',
    role: 'admin',
    body: ApiKeyCreate,
    response: ApiKeyCreated,
    status: 201,
    idempotent: true,
  })
  async create(
    @Caller() p: Principal,
    @Body() b: ApiKeyCreate,
    @Idem() idem: IdempotencyRequest | undefined,
    @Res({ passthrough: true }) res: FastifyReply,
  ) {
    return replayAware(res, await this.keys.create(p, b, idem));
  }

  @Get(':id')
  @Endpoint({
    operationId: 'getApiKey',
    summary: 'Get an API key',
    tag: 'api-keys',
    role: 'admin',
    params: IdParams,
    response: ApiKeyDto,
  })
  get(@Caller() p: Principal, @Params() { id }: Id) {
    return this.keys.get(p, id);
  }

  @Delete(':id')
  @Endpoint({
    operationId: 'revokeApiKey',
    summary: 'Revoke an API key',
    tag: 'api-keys',
    role: 'admin',
    params: IdParams,
    status: 204,
  })
  async revoke(@Caller() p: Principal, @Params() { id }: Id) {
    await this.keys.revoke(p, id);
  }
}

@Controller('v1')
export class AgentController {
  constructor(@Inject(AgentService) private readonly agents: AgentService) {}

  @Get('agents')
  @Endpoint({
    operationId: 'listAgents',
    summary: 'List agents',
    tag: 'agents',
    role: 'viewer',
    query: PageQuery,
    response: AgentPage,
  })
  list(@Caller() p: Principal, @Query() q: PageQuery) {
    return this.agents.list(p, q);
  }

  @Get('agents/:id')
  @Endpoint({
    operationId: 'getAgent',
    summary: 'Get an agent',
    tag: 'agents',
    role: 'viewer',
    params: IdParams,
    response: AgentDto,
  })
  get(@Caller() p: Principal, @Params() { id }: Id) {
    return this.agents.get(p, id);
  }

  @Get('join-tokens')
  @Endpoint({
    operationId: 'listJoinTokens',
    summary: 'List agent join tokens',
    tag: 'agents',
    role: 'admin',
    query: PageQuery,
    response: JoinTokenPage,
  })
  listTokens(@Caller() p: Principal, @Query() q: PageQuery) {
    return this.agents.listJoinTokens(p, q);
  }

  @Post('join-tokens')
  @Endpoint({
    operationId: 'createJoinToken',
    summary: 'Create an agent join token; the secret is in this response only',
    tag: 'agents',
    role: 'admin',
    body: JoinTokenCreate,
    response: JoinTokenCreated,
    status: 201,
    idempotent: true,
  })
  async createToken(
    @Caller() p: Principal,
    @Body() b: JoinTokenCreate,
    @Idem() idem: IdempotencyRequest | undefined,
    @Res({ passthrough: true }) res: FastifyReply,
  ) {
    return replayAware(res, await this.agents.createJoinToken(p, b, idem));
  }

  @Get('join-tokens/:id')
  @Endpoint({
    operationId: 'getJoinToken',
    summary: 'Get a join token',
    tag: 'agents',
    role: 'admin',
    params: IdParams,
    response: JoinTokenDto,
  })
  getToken(@Caller() p: Principal, @Params() { id }: Id) {
    return this.agents.getJoinToken(p, id);
  }

  @Delete('join-tokens/:id')
  @Endpoint({
    operationId: 'revokeJoinToken',
    summary: 'Revoke a join token',
    tag: 'agents',
    role: 'admin',
    params: IdParams,
    status: 204,
  })
  async revokeToken(@Caller() p: Principal, @Params() { id }: Id) {
    await this.agents.revokeJoinToken(p, id);
  }
}

@Controller('v1/audit-log')
export class AuditController {
  constructor(@Inject(AuditService) private readonly audit: AuditService) {}

  @Get()
  @Endpoint({
    operationId: 'listAuditLog',
    summary:
      'Audit log, newest first: who changed what, with before and after; filter by resourceType, action, actorId',
    tag: 'audit',
    role: 'viewer',
    query: AuditQuery,
    response: AuditPage,
  })
  list(@Caller() p: Principal, @Query() q: AuditQuery) {
    return this.audit.list(p, q);
  }
}
