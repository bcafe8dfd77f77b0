/**
 * slipstream-agent:
 *   run --config <file> [--metrics 127.0.0.1:9464]        desired state from a file (the lab, tests)
 *   run --control <state-file> [--metrics …]              desired state pushed by the API
 *       [--nice -10]                                       scheduling priority (agent/priority.ts)
 *   enroll --api <url> --token <sls_j_…> --name <n> --underlay <ip> --state-file <f> [--hostname h]
 *   leave --state-file <f>                                 revoke this agent's own credential (uninstall)
 *   cleanup | render --config <file>
 * Runs as root inside the network namespace it programs. API URLs may be `unix:/path.sock`
 * (see src/control/http.ts).
 */
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Agent } from './agent/agent.js';
import { DEFAULT_NICE, parseNice, setProcessNice } from './agent/priority.js';
import { parseDesiredState } from './config/desired-state.js';
import { ControlClient } from './control/client.js';
import { enroll, leave } from './control/enroll.js';
import { readControlState, writeControlState } from './control/state-file.js';
import { cleanupKernel } from './dataplane/kernel.js';
import { renderPlan } from './dataplane/render.js';

/** Exit code of a revoked agent: non-zero so systemd shows the unit as failed. */
const EXIT_REVOKED = 3;

/** Set by the single-file bundle (scripts/bundle.mjs), which has no package.json beside it. */
declare const __SLIPSTREAM_AGENT_VERSION__: string | undefined;

function agentVersion(): string {
  if (typeof __SLIPSTREAM_AGENT_VERSION__ === 'string') return __SLIPSTREAM_AGENT_VERSION__;
  try {
    const pkg = JSON.parse(readFileSync(join(import.meta.dirname, '..', 'package.json'), 'utf8')) as {
      version: string;
    };
    return pkg.version;
  } catch {
    return '0.0.0';
  }
}

async function main(): Promise<void> {
  const [cmd, ...rest] = process.argv.slice(2);
  const { values } = parseArgs({
    args: rest,
    options: {
      config: { type: 'string' },
      control: { type: 'string' },
      metrics: { type: 'string', default: '127.0.0.1:9464' },
      api: { type: 'string' },
      token: { type: 'string' },
      name: { type: 'string' },
      underlay: { type: 'string' },
      hostname: { type: 'string' },
      'state-file': { type: 'string' },
      nice: { type: 'string' },
    },
    strict: true,
  });
  if (cmd === 'cleanup') {
    await cleanupKernel();
    return;
  }
  if (cmd === 'enroll') {
    const missing = ['api', 'token', 'name', 'underlay', 'state-file'].filter(
      (k) => !values[k as keyof typeof values],
    );
    if (missing.length) throw new Error(`enroll needs ${missing.map((m) => `--${m}`).join(', ')}`);
    const st = await enroll(values.api!, values.token!, {
      name: values.name!,
      underlay: values.underlay!,
      version: agentVersion(),
      hostname: values.hostname ?? hostname(),
    });
    writeControlState(values['state-file']!, st);
    console.log(`enrolled as agent ${st.agentId} (role ${st.role}) in tenant ${st.tenantId}`);
    return;
  }
  if (cmd === 'leave') {
    if (!values['state-file']) throw new Error('leave needs --state-file');
    const st = readControlState(values['state-file']);
    const r = await leave(st);
    console.log(
      r === 'left'
        ? `left: agent ${st.agentId} is revoked in the API`
        : `agent ${st.agentId} was already revoked or deleted in the API`,
    );
    return;
  }
  if (cmd === 'render') {
    if (!values.config) throw new Error('--config <file> is required');
    const plan = renderPlan(parseDesiredState(readFileSync(values.config, 'utf8')));
    process.stdout.write(JSON.stringify({ ...plan, nft: undefined }, null, 2) + '\n' + plan.nft);
    return;
  }
  if (cmd !== 'run')
    throw new Error(`unknown command ${cmd ?? '(none)'}; use run, enroll, leave, cleanup or render`);
  if (!values.config === !values.control)
    throw new Error('run needs exactly one of --config <file> or --control <state-file>');
  const nice =
    values.nice !== undefined
      ? parseNice(values.nice)
      : process.env.SLIPSTREAM_AGENT_NICE !== undefined
        ? parseNice(process.env.SLIPSTREAM_AGENT_NICE)
        : DEFAULT_NICE;
  const control = values.control ? readControlState(values.control) : null;
  const pr = setProcessNice(nice);
  console.log(
    'error' in pr
      ? `priority: could not set nice ${nice} (${pr.error}); running at the inherited priority`
      : `priority: nice ${nice} on ${pr.threads} threads; autogroup: ${pr.autogroup}`,
  );
  const [host, port] = values.metrics.split(':');
  const agent = new Agent({
    ...(values.config ? { configFile: values.config } : {}),
    metricsHost: host ?? '127.0.0.1',
    metricsPort: Number(port ?? 9464),
  });
  const client = control ? new ControlClient({ state: control, agent }) : null;
  // Stopping leaves the kernel state in place so established (and bypassed) flows keep working;
  // `cleanup` is the explicit way to remove it.
  for (const sig of ['SIGTERM', 'SIGINT'] as const) {
    process.once(sig, () => {
      client?.stop();
      void agent.stop().then(() => process.exit(0));
    });
  }
  await agent.start();
  if (!client || !control) return;
  console.log(`control: agent ${control.agentId} (${control.role}) against ${control.apiUrl}`);
  const exit = await client.run();
  if (exit === 'revoked') {
    console.error(
      `slipstream-agent: REVOKED by the control plane; the kernel keeps revision ` +
        `${agent.appliedRevision ?? '(none)'} and forwards on it until \`slipstream-agent cleanup\`. ` +
        `Re-enroll with a new join token to come back.`,
    );
    await agent.stop();
    process.exit(EXIT_REVOKED);
  }
}

main().catch((err: unknown) => {
  console.error(`slipstream-agent: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
