// Builds the agent's one native part, the SYN-ACK hold helper (native/synack-hold.c), into
// dist/native/slipstream-synack-hold. Without a C compiler it says so and builds nothing: the agent then
// runs every VIP without a handshake hold and says why (see src/agent/synack-hold.ts).
import { spawnSync } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(root, 'dist', 'native', 'slipstream-synack-hold');
const cc = process.env.CC ?? 'cc';
if (spawnSync('sh', ['-c', `command -v ${cc}`], { stdio: 'ignore' }).status !== 0) {
  rmSync(out, { force: true });
  console.log(`native: no C compiler (${cc}): slipstream-synack-hold not built, handshake holds are off`);
  process.exit(0);
}
mkdirSync(dirname(out), { recursive: true });
// Static: the API hands this binary to hosts (install.sh), whose C library may differ from this one's.
const src = join(root, 'native', 'synack-hold.c');
const r = spawnSync(cc, ['-O2', '-Wall', '-Wextra', '-static', '-o', out, src], { stdio: 'inherit' });
if (r.status !== 0) {
  console.error(`native: ${cc} failed to build slipstream-synack-hold (exit ${r.status ?? r.signal})`);
  process.exit(1);
}
