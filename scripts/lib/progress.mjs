// One-line progress messages with elapsed time, so long steps show what they are doing.
const t0 = Date.now();
const elapsed = () => `${((Date.now() - t0) / 1000).toFixed(1)}s`.padStart(7);

export function step(msg) {
  process.stdout.write(`\x1b[36m[${elapsed()}]\x1b[0m ${msg}\n`);
}

export function info(msg) {
  process.stdout.write(`          ${msg}\n`);
}

export function fail(msg) {
  process.stderr.write(`slipstream: ${msg}\n`);
  process.exit(1);
}
