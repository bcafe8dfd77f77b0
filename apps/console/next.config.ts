import type { NextConfig } from 'next';

const config: NextConfig = {
  reactStrictMode: true,
  poweredByHeader: false,
  // A second build folder (e.g. dist/dev, which git, eslint and prettier already ignore) lets a developer
  // iterate on a build of their own while `npm run up` or another build uses .next: a rebuild under a
  // running `next start` breaks its chunks and server actions.
  distDir: process.env.SLIPSTREAM_CONSOLE_DIST_DIR || '.next',
};

export default config;
