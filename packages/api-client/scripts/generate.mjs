// Generates src/generated/schema.ts from the committed OpenAPI document (packages/contract/openapi.json).
// The output is prettier-formatted so the repository-wide format check accepts it, and only rewritten when
// it changes, so an unchanged contract leaves the file (and incremental builds) untouched.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import openapiTS, { astToString } from 'openapi-typescript';
import prettier from 'prettier';

const here = dirname(fileURLToPath(import.meta.url));
// SLIPSTREAM_CONTRACT points at another document, e.g. one the API just produced and nobody committed yet.
const contract = resolve(process.env.SLIPSTREAM_CONTRACT ?? join(here, '../../contract/openapi.json'));
const out = join(here, '../src/generated/schema.ts');

if (!existsSync(contract)) {
  // Until the API commits its contract, the committed schema stands in so every other workspace still builds.
  if (existsSync(out)) {
    console.warn(`api-client: ${contract} not found; keeping the committed src/generated/schema.ts`);
    process.exit(0);
  }
  console.error(
    `api-client: ${contract} not found; the API writes it with 'npm run openapi -w @slipstream/api'`,
  );
  process.exit(1);
}

const ast = await openapiTS(JSON.parse(readFileSync(contract, 'utf8')), {
  // Stable output: no timestamps, no absolute paths.
  alphabetize: false,
  exportType: false,
  // A field with a default is optional in a request (the API fills it in); openapi-typescript would
  // otherwise mark it required.
  defaultNonNullable: false,
});
const header = '// Generated from packages/contract/openapi.json by scripts/generate.mjs. Do not edit.\n';
const options = (await prettier.resolveConfig(out)) ?? {};
const text = await prettier.format(header + astToString(ast), { ...options, filepath: out });
mkdirSync(dirname(out), { recursive: true });
if (!existsSync(out) || readFileSync(out, 'utf8') !== text) {
  writeFileSync(out, text);
  console.log(`api-client: wrote ${out}`);
}
