// Starting aptgate for tests: in-process (buildApp on 127.0.0.1:0) or as a real child process.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import type { Dispatcher } from 'undici';
import { buildApp, type App } from '../../src/app.js';
import { applySetting, defaultConfig, validate, type Config } from '../../src/config.js';
import { openDb, type Db } from '../../src/state/db.js';
import { projectRoot } from './paths.js';

export interface BackendSpec {
  mirrors: string[];
  keyring: string;
}

export interface TestServer extends App {
  url: string;
  port: number;
  config: Config;
  db: Db;
  close(): Promise<void>;
}

export function testConfig(dir: string, backends: Record<string, BackendSpec>, tweak?: (c: Config) => void): Config {
  const config = defaultConfig();
  config.backends.clear();
  config.listen = '127.0.0.1';
  config.port = 0;
  config.cacheDir = path.join(dir, 'cache');
  config.db = path.join(dir, 'aptgate.db');
  config.logLevel = 'silent';
  config.proxy.refreshIntervalMs = 0;
  config.advisories.refreshIntervalMs = 0; // no fetch from the internet on a timer: a test asks
  config.advisories.changelogs = 'cached'; // no .deb fetched for its changelog (a real mirror): the refs test asks
  for (const [name, b] of Object.entries(backends)) {
    applySetting(config, `backend.${name}.mirrors`, b.mirrors.join(' '));
    applySetting(config, `backend.${name}.keyring`, b.keyring);
  }
  tweak?.(config);
  validate(config);
  return config;
}

export async function startServer(
  config: Config,
  opts: { dispatcher?: Dispatcher; logger?: object | boolean; now?: () => number; port?: number } = {},
): Promise<TestServer> {
  await mkdir(config.cacheDir, { recursive: true });
  const db = openDb(config.db);
  const built = await buildApp({
    config,
    db,
    dbFile: config.db,
    logger: opts.logger ?? false,
    ...(opts.dispatcher ? { dispatcher: opts.dispatcher } : {}),
    ...(opts.now ? { now: opts.now } : {}),
  });
  await built.app.listen({ host: '127.0.0.1', port: opts.port ?? 0 });
  const port = (built.app.server.address() as { port: number }).port;
  return {
    ...built,
    url: `${config.tls.cert ? 'https' : 'http'}://127.0.0.1:${port}`,
    port,
    config,
    db,
    close: async () => {
      await built.app.close();
      db.close();
    },
  };
}

export interface ChildServer {
  child: ChildProcess;
  port: number;
  url: string;
  /** SIGKILL, and wait for the exit */
  kill(): Promise<void>;
  /** SIGTERM, and wait for a clean exit */
  stop(): Promise<number | null>;
  output(): string;
}

/** Runs the real CLI (`node dist/src/cli/main.js serve ...`) and waits until it listens. */
export async function spawnServer(args: string[], env: NodeJS.ProcessEnv = {}): Promise<ChildServer> {
  const cli = path.join(projectRoot, 'dist', 'src', 'cli', 'main.js');
  const child = spawn(process.execPath, [cli, 'serve', '--listen', '127.0.0.1', '--port', '0', ...args], {
    // no advisory feed fetched from the internet on a timer (a test that wants one says so)
    env: { ...process.env, APTGATE_SERVER_LOG_LEVEL: 'info', APTGATE_ADVISORIES_REFRESH_INTERVAL: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const port = await new Promise<number>((resolve, reject) => {
    const onData = (c: Buffer) => {
      out += c.toString();
      const m = /Server listening at http:\/\/127\.0\.0\.1:(\d+)/.exec(out);
      if (m) resolve(Number(m[1]));
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', (c: Buffer) => {
      out += c.toString();
    });
    void exited.then((code) => reject(new Error(`aptgate exited ${code} before listening:\n${out}`)));
  });
  return {
    child,
    port,
    url: `http://127.0.0.1:${port}`,
    kill: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      return exited;
    },
    output: () => out,
  };
}

/** Polls `check` until it is truthy (for state another process or thread reaches). */
export async function waitFor<T>(
  check: () => T | Promise<T>,
  what: string,
  timeoutMs = 20_000,
): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v) return v as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/**
 * The newest snapshot of each suite has the Packages of `component/architecture` linked: apt's
 * update through the server may end before the server has indexed what it fetched, and the
 * stages follow (and publish) only what is indexed.
 */
export async function indexedNewest(
  server: TestServer,
  backend: string,
  suites: readonly string[],
  component = 'main',
  architecture = 'amd64',
): Promise<void> {
  const { snapshots, packageIndex } = server.services.state;
  await waitFor(
    () =>
      suites.every((s) => {
        const snap = snapshots.newest(backend, s);
        return snap !== undefined && packageIndex.isLinked(snap.id, component, architecture);
      }),
    `the Packages of ${suites.join(', ')} indexed`,
  );
  await server.proxy.indexer.idle();
  await server.gate.idle();
}
