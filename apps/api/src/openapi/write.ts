// `npm run openapi -w @slipstream/api`: regenerates packages/contract/openapi.json from the code.
// No database or Redis is touched; the document comes from controller metadata only.
import 'reflect-metadata';
import { readFile, writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CONTROLLERS } from '../app.module.js';
import { buildOpenApi } from './build.js';

export const CONTRACT_PATH = resolve(
  fileURLToPath(new URL('.', import.meta.url)),
  '../../../../packages/contract/openapi.json',
);

/** The document exactly as committed: formatted by the repository's Prettier settings. */
export async function renderOpenApi(): Promise<string> {
  const { format, resolveConfig } = await import('prettier');
  const version = (
    JSON.parse(await readFile(resolve(CONTRACT_PATH, '../package.json'), 'utf8')) as { version: string }
  ).version;
  const options = (await resolveConfig(CONTRACT_PATH)) ?? {};
  return format(JSON.stringify(buildOpenApi(CONTROLLERS, version)), { ...options, parser: 'json' });
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const target = process.argv[2] ? resolve(process.argv[2]) : CONTRACT_PATH;
  renderOpenApi()
    .then((text) => writeFile(target, text))
    .then(() => console.log(`wrote ${target}`))
    .catch((err: unknown) => {
      console.error(err);
      process.exit(1);
    });
}
