/**
 * `npm run lab -- up|down|status|trace [--json] [--prefix sls]`; `up --api <url> --join-token-host <t>
 * --join-token-mux <t>` (or SLIPSTREAM_API_URL, SLIPSTREAM_JOIN_TOKEN_HOST, SLIPSTREAM_JOIN_TOKEN_MUX) joins
 * the lab's agents to that API instead of giving them the demo config file; with `--install` each agent is
 * installed by the API's install.sh into a staging root under the lab's run dir, as on a real host.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { labDir, labDown, labStatus, labUp, type LabControl } from './lab.js';
import { renderTraceReport, traceReport } from './trace.js';

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    args: process.argv.slice(2),
    options: {
      json: { type: 'boolean', default: false },
      prefix: { type: 'string', default: 'sls' },
      api: { type: 'string', default: process.env.SLIPSTREAM_API_URL },
      'join-token-host': { type: 'string', default: process.env.SLIPSTREAM_JOIN_TOKEN_HOST },
      'join-token-mux': { type: 'string', default: process.env.SLIPSTREAM_JOIN_TOKEN_MUX },
      install: { type: 'boolean', default: false },
    },
    allowPositionals: true,
    strict: true,
  });
  const cmd = positionals[0];
  const prefix = values.prefix;
  if (process.getuid?.() !== 0) throw new Error('the lab needs root (network namespaces)');
  if (cmd === 'up') {
    const given = [values.api, values['join-token-host'], values['join-token-mux']].filter(Boolean).length;
    if (given !== 0 && given !== 3)
      throw new Error('control mode needs all of --api, --join-token-host and --join-token-mux');
    const control: LabControl | undefined =
      given === 3
        ? {
            apiUrl: values.api!,
            joinTokenHost: values['join-token-host']!,
            joinTokenMux: values['join-token-mux']!,
            install: values.install,
          }
        : undefined;
    if (values.install && !control) throw new Error('--install needs --api and both join tokens');
    await labUp(prefix, control);
    if (!values.json)
      console.log(
        `lab ${prefix} is up${control ? ` (agents ${control.install ? 'installed by and ' : ''}controlled by ${control.apiUrl})` : ''}`,
      );
  } else if (cmd === 'down') {
    labDown(prefix);
    if (!values.json) console.log(`lab ${prefix} removed`);
    return;
  } else if (cmd === 'trace') {
    // Needs a lab brought up with SLIPSTREAM_TRACE=1 in the environment (the agents inherit it).
    const dir = labDir(prefix);
    const lines = readdirSync(dir)
      .filter((f) => /^agent-.*\.log$/.test(f))
      .flatMap((f) => readFileSync(join(dir, f), 'utf8').split('\n'));
    const r = traceReport(lines);
    console.log(values.json ? JSON.stringify(r, null, 2) : renderTraceReport(r));
    return;
  } else if (cmd !== 'status') {
    throw new Error(`usage: lab up|down|status|trace [--json] [--prefix p]`);
  }
  const st = labStatus(prefix);
  if (values.json) {
    console.log(JSON.stringify(st, null, 2));
    return;
  }
  console.log(`lab ${prefix}: ${st.up ? 'up' : 'down'}`);
  for (const h of st.hosts)
    console.log(
      `  ${h.name.padEnd(3)} ${h.kind.padEnd(8)} ${h.underlay.padEnd(12)} ns ${h.netns} agent ${h.agentPid ?? '-'}`,
    );
  for (const v of st.vips)
    console.log(
      `  VIP ${v.name.padEnd(9)} ${v.address}:${v.port}/${v.protocol} ${v.service} bypass ${v.bypass ? 'on' : 'off'}${v.handshakeHoldMs > 0 ? `, handshake hold ${v.handshakeHoldMs} ms` : ''}`,
    );
}

main().catch((err: unknown) => {
  console.error(`lab: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
