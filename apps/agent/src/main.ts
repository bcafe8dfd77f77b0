/**
 * slipstream-agent: `run --config <file> [--metrics 127.0.0.1:9464]`, `cleanup`, `render --config <file>`.
 * Runs as root inside the network namespace it programs.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { Agent } from './agent/agent.js';
import { parseDesiredState } from './config/desired-state.js';
import { cleanupKernel } from './dataplane/kernel.js';
import { renderPlan } from './dataplane/render.js';

async function main(): Promise<void> {
  const [cmd, ...rest] = process.argv.slice(2);
  const { values } = parseArgs({
    args: rest,
    options: { config: { type: 'string' }, metrics: { type: 'string', default: '127.0.0.1:9464' } },
    strict: true,
  });
  if (cmd === 'cleanup') {
    await cleanupKernel();
    return;
  }
  if (!values.config) throw new Error('--config <file> is required');
  if (cmd === 'render') {
    const plan = renderPlan(parseDesiredState(readFileSync(values.config, 'utf8')));
    process.stdout.write(JSON.stringify({ ...plan, nft: undefined }, null, 2) + '\n' + plan.nft);
    return;
  }
  if (cmd !== 'run') throw new Error(`unknown command ${cmd ?? '(none)'}; use run, cleanup or render`);
  const [host, port] = values.metrics.split(':');
  const agent = new Agent({
    configFile: values.config,
    metricsHost: host ?? '127.0.0.1',
    metricsPort: Number(port ?? 9464),
  });
  // Stopping leaves the kernel state in place so established (and bypassed) flows keep working;
  // `cleanup` is the explicit way to remove it.
  for (const sig of ['SIGTERM', 'SIGINT'] as const) {
    process.once(sig, () => {
      void agent.stop().then(() => process.exit(0));
    });
  }
  await agent.start();
}

main().catch((err: unknown) => {
  console.error(`slipstream-agent: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
