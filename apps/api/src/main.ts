// API entry point: `node apps/api/dist/main.js`. Configuration comes from the environment only.
import { Logger } from '@nestjs/common';
import { createApp } from './app.js';
import { ConfigError, loadConfig } from './config.js';

async function main() {
  let config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(err.message);
      process.exit(2);
    }
    throw err;
  }
  const app = await createApp(config);
  await app.listen(config.PORT, config.HOST);
  new Logger('Main').log(
    `API listening on http://${config.HOST}:${config.PORT}/v1 (OpenAPI at /v1/openapi.json)`,
  );
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
