// Generates the Prisma client into src/generated/prisma when prisma/schema.prisma (or the Prisma version)
// changed since the last run. build, typecheck and test all call this and turbo runs them in parallel, so
// a lock keeps two generators from rewriting the folder under each other.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const api = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const root = resolve(api, '../..');
const out = join(api, 'src/generated/prisma');
const stamp = join(api, 'src/generated/.schema-sha256');
const lock = join(api, 'src/generated/.lock');
const prismaPkg = JSON.parse(readFileSync(join(root, 'node_modules/prisma/package.json'), 'utf8'));
const want = createHash('sha256')
  .update(readFileSync(join(root, 'prisma/schema.prisma')))
  .update(prismaPkg.version)
  .digest('hex');

const fresh = () => existsSync(out) && existsSync(stamp) && readFileSync(stamp, 'utf8') === want;
if (fresh()) process.exit(0);

mkdirSync(dirname(lock), { recursive: true });
const deadline = Date.now() + 120_000;
for (;;) {
  try {
    mkdirSync(lock);
    break;
  } catch {
    // A lock older than two minutes belongs to a generator that died.
    if (existsSync(lock) && Date.now() - statSync(lock).mtimeMs > 120_000)
      rmSync(lock, { recursive: true, force: true });
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${lock}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}
try {
  if (!fresh()) {
    const r = spawnSync(
      join(root, 'node_modules/.bin/prisma'),
      ['generate', '--config', join(root, 'prisma.config.ts')],
      {
        cwd: root,
        encoding: 'utf8',
        // generate never runs the schema engine; pointing it at /bin/false stops the download (STACK.md).
        env: { ...process.env, PRISMA_SCHEMA_ENGINE_BINARY: '/bin/false', CHECKPOINT_DISABLE: '1' },
      },
    );
    if (r.status !== 0) {
      process.stderr.write(`${r.stdout}${r.stderr}`);
      process.exit(r.status ?? 1);
    }
    writeFileSync(stamp, want);
  }
} finally {
  rmSync(lock, { recursive: true, force: true });
}
