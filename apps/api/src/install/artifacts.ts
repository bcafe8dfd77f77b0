// What a host downloads to become an agent: the installer script, the agent bundle and a Node runtime.
// The bundle folder is built by the agent's build (apps/agent/scripts/bundle.mjs); the Node runtime is
// the one this API runs on, offered to hosts without Node >= 20 (same OS and CPU family only).
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { AppError, ErrorCode } from '../common/errors.js';

/** The agent's build output, from both src/install (tests) and dist/install. */
export const DEFAULT_BUNDLE_DIR = resolve(import.meta.dirname, '..', '..', '..', 'agent', 'dist', 'bundle');

export const BUNDLE_FILE = 'slipstream-agent.mjs';
/** The agent's SYN-ACK hold helper (C, built for this machine), when the agent's build had a compiler. */
export const HOLD_HELPER_FILE = 'slipstream-synack-hold';

export interface Artifact {
  bytes: Buffer;
  sha256: string;
}

/** Node's own machine names, as `uname -m` prints them on the host. */
const UNAME_ARCH: Record<string, string> = { x64: 'x86_64', arm64: 'aarch64', arm: 'armv7l' };

export interface NodeRuntime {
  path: string;
  size: number;
  sha256: string;
  version: string;
  arch: string;
}

function sha256(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}

function hashFile(path: string): Promise<string> {
  return new Promise((ok, fail) => {
    const h = createHash('sha256');
    createReadStream(path)
      .on('data', (c) => h.update(c))
      .on('error', fail)
      .on('end', () => ok(h.digest('hex')));
  });
}

export class InstallArtifacts {
  private cache = new Map<string, { key: string; value: Artifact }>();
  private node: Promise<NodeRuntime> | null = null;

  constructor(
    private readonly bundleDir: string,
    private readonly nodePath: string = process.execPath,
  ) {}

  /** A file of the bundle folder, re-read when it changes (a rebuild needs no API restart). */
  private async file(name: string): Promise<Artifact> {
    const path = join(this.bundleDir, name);
    let key: string;
    try {
      const st = await stat(path);
      key = `${st.size}:${st.mtimeMs}`;
    } catch {
      throw new AppError(
        ErrorCode.Unavailable,
        `the agent bundle is not built (${path} is missing): run npm run build -w @slipstream/agent`,
      );
    }
    const hit = this.cache.get(name);
    if (hit?.key === key) return hit.value;
    const bytes = await readFile(path);
    const value = { bytes, sha256: sha256(bytes) };
    this.cache.set(name, { key, value });
    return value;
  }

  bundle(): Promise<Artifact> {
    return this.file(BUNDLE_FILE);
  }

  /** The hold helper, or null when the agent was built without a C compiler. */
  async holdHelper(): Promise<Artifact | null> {
    try {
      await stat(join(this.bundleDir, HOLD_HELPER_FILE));
    } catch {
      return null;
    }
    return this.file(HOLD_HELPER_FILE);
  }

  async version(): Promise<string> {
    return (await this.file('version')).bytes.toString('utf8').trim();
  }

  /** The Node binary this process runs on; hashed once (it does not change under a running process). */
  nodeRuntime(): Promise<NodeRuntime> {
    this.node ??= (async () => {
      const st = await stat(this.nodePath);
      return {
        path: this.nodePath,
        size: st.size,
        sha256: await hashFile(this.nodePath),
        version: process.versions.node,
        arch: UNAME_ARCH[process.arch] ?? process.arch,
      };
    })();
    return this.node;
  }

  /** The installer with this deployment's URL and the checksums of what it will download filled in. */
  async installScript(publicUrl: string): Promise<string> {
    const [template, bundle, version, node, helper] = await Promise.all([
      this.file('install.sh'),
      this.bundle(),
      this.version(),
      this.nodeRuntime(),
      this.holdHelper(),
    ]);
    const values: Record<string, string> = {
      PUBLIC_URL: publicUrl,
      AGENT_VERSION: version,
      BUNDLE_SHA256: bundle.sha256,
      NODE_SHA256: node.sha256,
      NODE_VERSION: node.version,
      NODE_ARCH: node.arch,
      // Empty: no helper to fetch (the host's agent then runs without handshake holds and says so).
      HOLD_SHA256: helper?.sha256 ?? '',
    };
    return template.bytes.toString('utf8').replace(/@@([A-Z0-9_]+)@@/g, (m, k: string) => values[k] ?? m);
  }
}
