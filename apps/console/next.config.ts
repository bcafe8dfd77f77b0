import type { NextConfig } from 'next';

const config: NextConfig = {
  reactStrictMode: true,
  poweredByHeader: false,
  // The API URL is read at request time on the server, so one build serves any deployment.
  output: undefined,
};

export default config;
