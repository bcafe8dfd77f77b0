import { Controller, Get, Inject } from '@nestjs/common';
import { Endpoint } from '../http/endpoint.js';

export const OPENAPI_DOC = Symbol('OPENAPI_DOC');

@Controller('v1')
export class OpenApiController {
  constructor(@Inject(OPENAPI_DOC) private readonly doc: object) {}

  @Get('openapi.json')
  @Endpoint({
    operationId: 'getOpenApi',
    summary: 'This OpenAPI 3.1 document',
    tag: 'system',
    role: 'public',
  })
  get(): object {
    return this.doc;
  }
}
