#!/usr/bin/env node
// `npm test`: every test. Installs what a fresh machine lacks, builds, lints, typechecks, checks
// formatting, then runs each workspace's suite (each starts and stops the servers it needs) one after
// another, and ends with one summary line: "N passed, N failed, N skipped".
// Usage: npm test [-- <workspace-name-substring> ...]   e.g. npm test -- api agent
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { step, info } from './lib/progress.mjs';
import { ROOT, checkNode, ensureAptPackages, ensureNodeModules, isRoot, run } from './lib/setup.mjs';

const only = process.argv.slice(2);
checkNode();
step('checking system packages');
ensureAptPackages([
  'redis-server',
  'chromium',
  ...(isRoot() ? ['nft', 'ip', 'iperf3', 'tcpdump', 'iptables', 'cc'] : []),
]);
ensureNodeModules();

step('build');
run('npx', ['turbo', 'run', 'build', '--output-logs=errors-only']);
step('lint and typecheck');
run('npx', ['turbo', 'run', 'lint', 'typecheck', '--output-logs=errors-only']);
run('npx', ['eslint', 'scripts', 'eslint.config.js']);
step('format check');
run('npx', ['prettier', '--check', '.', '--log-level', 'warn']);

const workspaces = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).workspaces;
const suites = [];
for (const pattern of workspaces) {
  const dir = join(ROOT, pattern.replace('/*', ''));
  for (const name of existsSync(dir) ? spawnSync('ls', [dir], { encoding: 'utf8' }).stdout.split('\n') : []) {
    const pkgFile = join(dir, name, 'package.json');
    if (!name || !existsSync(pkgFile)) continue;
    const pkg = JSON.parse(readFileSync(pkgFile, 'utf8'));
    if (!pkg.scripts?.test) continue;
    if (only.length && !only.some((o) => pkg.name.includes(o))) continue;
    suites.push({ name: pkg.name, dir: join(dir, name) });
  }
}

const outDir = join(ROOT, 'test-output', 'results');
rmSync(outDir, { recursive: true, force: true });
mkdirSync(outDir, { recursive: true });
const totals = { passed: 0, failed: 0, skipped: 0 };
const rows = [];
let anyFailed = false;
for (const s of suites) {
  const report = join(outDir, `${s.name.replace(/[@/]/g, '_')}.json`);
  step(`test ${s.name}`);
  const t = Date.now();
  const r = spawnSync(
    'npm',
    ['test', '--', '--reporter=default', '--reporter=json', `--outputFile.json=${report}`],
    {
      cwd: s.dir,
      stdio: 'inherit',
    },
  );
  const secs = ((Date.now() - t) / 1000).toFixed(0);
  const counts = { passed: 0, failed: 0, skipped: 0 };
  if (existsSync(report)) {
    const j = JSON.parse(readFileSync(report, 'utf8'));
    counts.passed = j.numPassedTests ?? 0;
    counts.failed = j.numFailedTests ?? 0;
    counts.skipped = (j.numPendingTests ?? 0) + (j.numTodoTests ?? 0);
  }
  // A suite that crashed, failed to collect a file, or produced no report still counts as a failure.
  if (r.status !== 0 && counts.failed === 0) counts.failed = 1;
  if (counts.failed > 0) anyFailed = true;
  for (const k of Object.keys(totals)) totals[k] += counts[k];
  rows.push(
    `${s.name.padEnd(24)} ${String(counts.passed).padStart(5)} passed ${String(counts.failed).padStart(3)} failed ${String(counts.skipped).padStart(3)} skipped  ${secs}s`,
  );
}

step('summary');
for (const row of rows) info(row);
console.log(`${totals.passed} passed, ${totals.failed} failed, ${totals.skipped} skipped`);
process.exit(anyFailed ? 1 : 0);
