// Prisma CLI configuration. The URL is only needed by `prisma migrate`/`studio`; `prisma generate`
// (the only CLI command this repo runs, see STACK.md) works without it.
import { defineConfig } from 'prisma/config';

export default defineConfig({
  schema: 'prisma/schema.prisma',
  migrations: { path: 'prisma/migrations' },
  ...(process.env.DATABASE_URL ? { datasource: { url: process.env.DATABASE_URL } } : {}),
});
