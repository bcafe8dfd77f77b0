/** Command line shared by the lab services: `--port N [--name b1] [--host 0.0.0.0]`. */
import { parseArgs } from 'node:util';

export interface ServiceArgs {
  port: number;
  name: string;
  host: string;
}

export function parseServiceArgs(argv: readonly string[], service: string): ServiceArgs {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      port: { type: 'string' },
      name: { type: 'string' },
      host: { type: 'string' },
    },
    strict: true,
  });
  const port = Number(values.port);
  if (values.port === undefined || !Number.isInteger(port) || port < 1 || port > 65535) {
    throw new Error(`--port must be an integer 1..65535 (got ${values.port ?? 'nothing'})`);
  }
  const name = values.name ?? service;
  if (!/^[A-Za-z0-9._-]{1,64}$/.test(name)) throw new Error(`--name must be 1..64 of [A-Za-z0-9._-]`);
  return { port, name, host: values.host ?? '0.0.0.0' };
}

/** Runs main, printing a one-line error and exiting 2 on bad arguments or a failed bind. */
export function runService(service: string, main: () => Promise<void>): void {
  main().catch((err: unknown) => {
    console.error(`${service}: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(2);
  });
}

export function onShutdown(close: () => void): void {
  for (const sig of ['SIGTERM', 'SIGINT'] as const) {
    process.once(sig, () => {
      close();
      // Open keep-alive or echo connections must not hold the lab's teardown hostage.
      setTimeout(() => process.exit(0), 500).unref();
    });
  }
}
