// Builds what `GET /install.sh` hands to a host: the agent as one ES module (no node_modules needed on the
// host, Node >= 20 runs it), its sha256, the installer template, and the SYN-ACK hold helper when the
// build made one (scripts/build-native.mjs runs first). The API serves this folder as is
// (SLIPSTREAM_AGENT_BUNDLE_DIR, default apps/agent/dist/bundle).
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..');
const out = join(root, 'dist', 'bundle');
const { version } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
mkdirSync(out, { recursive: true });
const file = join(out, 'slipstream-agent.mjs');
await build({
  entryPoints: [join(root, 'src', 'main.ts')],
  outfile: file,
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  legalComments: 'none',
  // main.ts reads its version from package.json next to dist/; a bundle carries it instead.
  define: { __SLIPSTREAM_AGENT_VERSION__: JSON.stringify(version) },
  banner: { js: `// slipstream-agent ${version}: single-file bundle, run with node >= 20` },
  logLevel: 'warning',
});
const sha = createHash('sha256').update(readFileSync(file)).digest('hex');
writeFileSync(join(out, 'slipstream-agent.mjs.sha256'), `${sha}  slipstream-agent.mjs\n`);
writeFileSync(join(out, 'version'), `${version}\n`);
copyFileSync(join(root, 'install', 'install.sh'), join(out, 'install.sh'));
const helper = join(root, 'dist', 'native', 'slipstream-synack-hold');
if (existsSync(helper)) copyFileSync(helper, join(out, 'slipstream-synack-hold'));
else rmSync(join(out, 'slipstream-synack-hold'), { force: true });
console.log(`bundle: ${file} sha256 ${sha}`);
