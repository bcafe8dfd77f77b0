export { startPostgres, createDatabase, dropDatabase, pgUrl } from './postgres.js';
export type { StartedPostgres, PostgresOptions } from './postgres.js';
export { startRedis } from './redis.js';
export type { StartedRedis, RedisOptions } from './redis.js';
export { freePort, portInUse } from './ports.js';
