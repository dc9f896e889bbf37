// The `aptgate` command line: commander over plain functions that return data.
import { Command, Option } from 'commander';
import { loadConfig, type Config, type ConfigOverrides } from '../config.js';
import { openDb } from '../state/db.js';
import { PackageIndexStore } from '../state/package-index.js';
import { SnapshotStore } from '../state/snapshots.js';
import { UsageStore } from '../state/usage.js';
import { StageStore } from '../state/stages.js';
import { cacheStats, cleanCache, type HousekeepingDeps } from '../proxy/housekeeping.js';
import { CacheStore } from '../proxy/store.js';
import { verifyCache } from '../proxy/verify.js';
import { formatCleanResult, formatConfig, formatStats, formatVerifyResult } from './format.js';
import { registerOutdatedCommand } from './outdated-command.js';
import { registerFleetCommands } from './fleet-commands.js';
import { registerGateCommands } from './gate-commands.js';
import { ExitStatus, programHead, runProgram } from './run.js';
import { visibleText } from './visible.js';

interface CommonOpts {
  config?: string;
  listen?: string;
  port?: string;
  cacheDir?: string;
  db?: string;
  backend?: string[];
  keyring?: string[];
  tlsCert?: string;
  tlsKey?: string;
}

const collect = (value: string, previous: string[] = []) => [...previous, value];

export { ExitStatus };

/** `cache verify` found files that do not match and left them in place. */
export const VERIFY_PROBLEMS_EXIT = 3;

function withConfigOptions(cmd: Command, server: boolean): Command {
  cmd.option('-c, --config <file>', 'configuration file (default: built-in defaults; env APTGATE_CONFIG)');
  if (server) {
    cmd.option('--listen <addr>', 'address to listen on (default ::, all addresses)');
    cmd.option('-p, --port <n>', 'port to listen on (default 3142)');
    cmd.option('--tls-cert <file>', 'PEM certificate: serve HTTPS (with --tls-key)');
    cmd.option('--tls-key <file>', 'PEM private key of --tls-cert');
  }
  cmd.option('--cache-dir <dir>', 'cache directory (default ./cache)');
  cmd.option('--db <file>', 'state database (default ./aptgate.db)');
  cmd.option('--backend <name=url[,url...]>', 'define or override a backend and its ordered mirrors (repeatable)', collect);
  cmd.option('--keyring <name=file>', 'keyring that signs a backend (repeatable)', collect);
  return cmd;
}

function configFrom(o: CommonOpts): Config {
  const overrides: ConfigOverrides = {};
  if (o.listen !== undefined) overrides.listen = o.listen;
  if (o.port !== undefined) overrides.port = o.port;
  if (o.cacheDir !== undefined) overrides.cacheDir = o.cacheDir;
  if (o.db !== undefined) overrides.db = o.db;
  if (o.backend) overrides.backends = o.backend;
  if (o.keyring) overrides.keyrings = o.keyring;
  if (o.tlsCert !== undefined) overrides.tlsCert = o.tlsCert;
  if (o.tlsKey !== undefined) overrides.tlsKey = o.tlsKey;
  return loadConfig({ ...(o.config ? { file: o.config } : {}), overrides });
}

function housekeepingDeps(config: Config): { deps: HousekeepingDeps; close(): void } {
  const db = openDb(config.db);
  return {
    deps: {
      config,
      store: new CacheStore(config.cacheDir),
      snapshots: new SnapshotStore(db),
      packageIndex: new PackageIndexStore(db),
      usage: new UsageStore(db),
      stages: new StageStore(db),
    },
    close: () => db.close(),
  };
}

export function buildProgram(write: (s: string) => void = (s) => process.stdout.write(s)): Command {
  // the last line of defence for the administrator's terminal: whatever a formatter missed, no
  // control character but newline and tab reaches it (in --json, C1 and bidi characters become
  // \uXXXX escapes: the same JSON)
  const out = (s: string) => write(visibleText(s));
  const program = programHead();

  withConfigOptions(program.command('serve').description('run the server (proxy on the configured port)'), true)
    .action(async (o: CommonOpts) => {
      const config = configFrom(o);
      // the server's modules (fastify, undici) only for the command that serves
      const { startServer } = await import('../main.js');
      await startServer(config);
    });

  withConfigOptions(program.command('config').description('print the effective configuration (defaults, file, environment, options)'), true)
    .addOption(new Option('--json', 'machine-readable output'))
    .action((o: CommonOpts & { json?: boolean }) => {
      const config = configFrom(o);
      out(o.json ? JSON.stringify(configJson(config), null, 2) + '\n' : formatConfig(config));
    });

  const cache = program.command('cache').description('inspect and clean the cache directory');
  withConfigOptions(cache.command('stats').description('files, bytes and package index size'), false)
    .option('--json', 'machine-readable output')
    .action(async (o: CommonOpts & { json?: boolean }) => {
      const h = housekeepingDeps(configFrom(o));
      try {
        const s = await cacheStats(h.deps);
        out(o.json ? JSON.stringify(s, null, 2) + '\n' : formatStats(s));
      } finally {
        h.close();
      }
    });
  withConfigOptions(cache.command('clean').description('remove files no current index references (after the grace period) and enforce cache.max_size'), false)
    .option('-n, --dry-run', 'only list what would be removed')
    .option('--json', 'machine-readable output')
    .action(async (o: CommonOpts & { json?: boolean; dryRun?: boolean }) => {
      const h = housekeepingDeps(configFrom(o));
      try {
        const r = await cleanCache(h.deps, { dryRun: o.dryRun === true });
        out(o.json ? JSON.stringify(r, null, 2) + '\n' : formatCleanResult(r));
      } finally {
        h.close();
      }
    });
  withConfigOptions(cache.command('verify').description('check every cached file against the signed indexes (size and SHA256); safe while the server runs'), false)
    .option('--fix', 'remove files that do not match, and files no index vouches for')
    .option('--json', 'machine-readable output')
    .action(async (o: CommonOpts & { json?: boolean; fix?: boolean }) => {
      const h = housekeepingDeps(configFrom(o));
      let r;
      try {
        r = await verifyCache(h.deps, { fix: o.fix === true });
      } finally {
        h.close();
      }
      out(o.json ? JSON.stringify(r, null, 2) + '\n' : formatVerifyResult(r));
      const left = [...r.mismatched, ...r.unvouched].filter((p) => !p.evicted).length;
      if (left > 0) throw new ExitStatus(VERIFY_PROBLEMS_EXIT);
    });
  registerOutdatedCommand(program, out);

  // token, machines, packages, classes, jobs, schedules, push: the fleet, on the server host
  registerFleetCommands(program, { out, configured: (cmd) => withConfigOptions(cmd, false), configFrom: (o) => configFrom(o as CommonOpts) });
  // gate status, promote, stage rollback|history|list, key export: the release gate
  registerGateCommands(program, { out, configured: (cmd) => withConfigOptions(cmd, false), configFrom: (o) => configFrom(o as CommonOpts) });

  return program;
}

export function configJson(config: Config): object {
  return { ...config, backends: Object.fromEntries(config.backends), gate: { ...config.gate, autoPromote: Object.fromEntries(config.gate.autoPromote) } };
}

export function runCli(argv: string[]): Promise<number> {
  return runProgram(buildProgram(), argv);
}
