// The `aptgate` command line: commander over plain functions that return data.
import { Argument, Command, Option } from 'commander';
import { applySetting, type Config, type ConfigOverrides } from '../config.js';
import { locateConfig, type ConfigUse } from './locate.js';
import { fail } from '../errors.js';
import { openDb } from '../state/db.js';
import { stateStores } from '../assembly/services.js';
import { cleanCache, type HousekeepingDeps } from '../proxy/housekeeping.js';
import { verifyCache } from '../proxy/verify.js';
import { importAcng } from '../proxy/import-acng.js';
import { formatCleanResult, formatConfig, formatVerifyResult } from './format.js';
import { registerCacheCommands } from './cache-commands.js';
import { formatImportResult } from './import-format.js';
import { registerOutdatedCommand } from './outdated-command.js';
import { completionScript, SHELLS, type Shell } from '../term/completion.js';
import { registerFleetCommands } from './fleet-commands.js';
import { registerGateCommands } from './gate-commands.js';
import { registerClientsCommand } from './clients.js';
import { registerAuditCommand } from './audit.js';
import { registerUserCommands } from './users.js';
import { registerApiTokenCommands } from './api-tokens.js';
import { registerLoginCommands } from './login.js';
import { registerAdvisoryCommands } from './advisories.js';
import { ExitStatus, programHead, runProgram } from './run.js';
import { remoteOption } from './call.js';
import { visibleText } from '../term/visible.js';

interface CommonOpts {
  config?: string;
  listen?: string;
  port?: string;
  stateDir?: string;
  cacheDir?: string;
  db?: string;
  backend?: string[];
  keyring?: string[];
  tlsCert?: string;
  tlsKey?: string;
  logFormat?: string;
  siteOf?: string;
}

const collect = (value: string, previous: string[] = []) => [...previous, value];

export { ExitStatus };

/** `cache verify` found files that do not match and left them in place; `cache import` refused tampered files. */
export const VERIFY_PROBLEMS_EXIT = 3;

function withConfigOptions(cmd: Command, server: boolean): Command {
  cmd.option('-c, --config <file>', 'configuration file (default: built-in defaults; env APTGATE_CONFIG)');
  if (server) {
    cmd.option('--listen <addr>', 'address to listen on (default ::, all addresses)');
    cmd.option('-p, --port <n>', 'port to listen on (default 3142)');
    cmd.option('--tls-cert <file>', 'PEM certificate: serve HTTPS (with --tls-key)');
    cmd.option('--tls-key <file>', 'PEM private key of --tls-cert');
    cmd.option('--log-format <format>', 'auto (human on a terminal, else JSON), human or json (server.log_format)');
    cmd.option('--site-of <url>', 'a site cache under this central aptgate (site.parent): every backend through it');
  }
  cmd.option('--state-dir <dir>', 'state directory (default: state/ of the checkout, or /var/lib/aptgate)');
  cmd.option('--cache-dir <dir>', 'cache directory (default STATE_DIR/cache)');
  cmd.option('--db <file>', 'state database (default STATE_DIR/aptgate.db)');
  cmd.option(
    '--backend <name=url[,url...]>',
    'define or override a backend and its ordered mirrors (repeatable)',
    collect,
  );
  cmd.option('--keyring <name=file>', 'keyring that signs a backend (repeatable)', collect);
  return cmd;
}

/** serve creates state; admin commands only open state that exists (cli/locate.ts). */
function configFrom(o: CommonOpts, use: ConfigUse): Config {
  const overrides: ConfigOverrides = {};
  if (o.listen !== undefined) overrides.listen = o.listen;
  if (o.port !== undefined) overrides.port = o.port;
  if (o.stateDir !== undefined) overrides.stateDir = o.stateDir;
  if (o.cacheDir !== undefined) overrides.cacheDir = o.cacheDir;
  if (o.db !== undefined) overrides.db = o.db;
  if (o.backend) overrides.backends = o.backend;
  if (o.keyring) overrides.keyrings = o.keyring;
  if (o.tlsCert !== undefined) overrides.tlsCert = o.tlsCert;
  if (o.tlsKey !== undefined) overrides.tlsKey = o.tlsKey;
  if (o.siteOf !== undefined) overrides.siteOf = o.siteOf;
  const config = locateConfig(use, { ...(o.config ? { file: o.config } : {}), overrides });
  if (o.logFormat !== undefined) {
    try {
      applySetting(config, 'server.log_format', o.logFormat);
    } catch {
      fail('USAGE', `--log-format: expected auto, human or json, got "${o.logFormat.slice(0, 40)}"`);
    }
  }
  return config;
}

function housekeepingDeps(config: Config): { deps: HousekeepingDeps; close(): void } {
  const db = openDb(config.db, { mustExist: true });
  try {
    return { deps: { config, ...stateStores(config, db) }, close: () => db.close() };
  } catch (err) {
    db.close();
    throw err;
  }
}

export function buildProgram(write: (s: string) => void = (s) => process.stdout.write(s)): Command {
  // the last line of defence for the administrator's terminal: whatever a formatter missed, no
  // control character but newline and tab reaches it (in --json, C1 and bidi characters become
  // \uXXXX escapes: the same JSON)
  const out = (s: string) => write(visibleText(s));
  const program = programHead();

  withConfigOptions(program.command('serve').description('run the server (proxy on the configured port)'), true).action(
    async (o: CommonOpts) => {
      const config = configFrom(o, 'serve');
      // the server's modules (fastify, undici) only for the command that serves
      const { startServer } = await import('../main.js');
      await startServer(config);
    },
  );

  withConfigOptions(
    program.command('config').description('print the effective configuration (defaults, file, environment, options)'),
    true,
  )
    .addOption(new Option('--json', 'machine-readable output'))
    .action((o: CommonOpts & { json?: boolean }) => {
      const config = configFrom(o, 'print');
      out(o.json ? JSON.stringify(configJson(config), null, 2) + '\n' : formatConfig(config));
    });

  const cache = program.command('cache').description('inspect and clean the cache directory');
  // stats and history: operations (here or on --server); clean, verify, import: the files, here
  registerCacheCommands(
    cache,
    {
      out,
      configured: (cmd) => remoteOption(withConfigOptions(cmd, false)),
      configFrom: (o) => configFrom(o as CommonOpts, 'admin'),
    },
    (parent, spec, description) =>
      remoteOption(withConfigOptions(parent.command(spec).description(description), false)),
  );
  withConfigOptions(
    cache
      .command('clean')
      .description('remove files no current index references (after the grace period) and enforce cache.max_size'),
    false,
  )
    .option('-n, --dry-run', 'only list what would be removed')
    .option('--json', 'machine-readable output')
    .action(async (o: CommonOpts & { json?: boolean; dryRun?: boolean }) => {
      const h = housekeepingDeps(configFrom(o, 'admin'));
      try {
        const r = await cleanCache(h.deps, { dryRun: o.dryRun === true });
        out(o.json ? JSON.stringify(r, null, 2) + '\n' : formatCleanResult(r));
      } finally {
        h.close();
      }
    });
  withConfigOptions(
    cache
      .command('verify')
      .description('check every cached file against the signed indexes (size and SHA256); safe while the server runs'),
    false,
  )
    .option('--fix', 'remove files that do not match, and files no index vouches for')
    .option('--json', 'machine-readable output')
    .action(async (o: CommonOpts & { json?: boolean; fix?: boolean }) => {
      const h = housekeepingDeps(configFrom(o, 'admin'));
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
  withConfigOptions(
    cache
      .command('import')
      .description(
        'take over an apt-cacher-ng cache directory: only files the signed indexes vouch for; safe while the server runs',
      ),
    false,
  )
    .argument('<dir>', 'the apt-cacher-ng cache (CacheDir, /var/cache/apt-cacher-ng); only read')
    .option('-n, --dry-run', 'only report what would be taken and refused')
    .option('--map <dir=backend>', 'take an apt-cacher-ng top-level directory as this backend (repeatable)', collect)
    .option('--json', 'machine-readable output (every file)')
    .action(async (dir: string, o: CommonOpts & { json?: boolean; dryRun?: boolean; map?: string[] }) => {
      const map = new Map<string, string>();
      for (const m of o.map ?? []) {
        const eq = m.indexOf('=');
        if (eq <= 0) fail('USAGE', `--map: expected DIR=BACKEND, got "${m}"`);
        map.set(m.slice(0, eq), m.slice(eq + 1));
      }
      const h = housekeepingDeps(configFrom(o, 'admin'));
      let r;
      try {
        r = await importAcng(h.deps, { dir, dryRun: o.dryRun === true, map });
      } finally {
        h.close();
      }
      out(o.json ? JSON.stringify(r, null, 2) + '\n' : formatImportResult(r));
      // tampered or damaged files (or a root no configured key signed) need the administrator
      if (r.problems > 0) throw new ExitStatus(VERIFY_PROBLEMS_EXIT);
    });
  registerOutdatedCommand(program, out);

  // token, machines, packages, classes, jobs, schedules, push: the fleet, on the server host
  registerFleetCommands(program, {
    out,
    configured: (cmd) => remoteOption(withConfigOptions(cmd, false)),
    configFrom: (o) => configFrom(o as CommonOpts, 'admin'),
  });
  // gate status, promote, stage rollback|history|list, key export: the release gate
  registerGateCommands(program, {
    out,
    configured: (cmd) => remoteOption(withConfigOptions(cmd, false)),
    configFrom: (o) => configFrom(o as CommonOpts, 'admin'),
  });

  // clients: who uses the proxy (from the server's database)
  registerClientsCommand(program, {
    out,
    configured: (cmd) => remoteOption(withConfigOptions(cmd, false)),
    configFrom: (o) => configFrom(o as CommonOpts, 'admin'),
  });

  // users and the audit log: the accounts of the API and the console, who did what
  const adminShell = {
    out,
    configured: (cmd: Command) => remoteOption(withConfigOptions(cmd, false)),
    configFrom: (o: object) => configFrom(o as CommonOpts, 'admin'),
  };
  const adminLeaf = (parent: Command, spec: string, description: string) =>
    remoteOption(withConfigOptions(parent.command(spec).description(description), false));
  registerUserCommands(program, adminShell, adminLeaf);
  registerAuditCommand(program, adminShell, adminLeaf);
  registerApiTokenCommands(program, adminShell, adminLeaf);
  // the security advisory feeds: status, refresh, import (a file, on the server host)
  registerAdvisoryCommands(program, adminShell, adminLeaf);
  // the remote command line: a token for --server
  registerLoginCommands(program, adminShell);

  program
    .command('completion')
    .description(
      'print the shell completion script (bash: source <(aptgate completion bash); the Debian package installs both)',
    )
    .addArgument(new Argument('<shell>', 'bash or zsh').choices(SHELLS))
    .action((shell: Shell) => out(completionScript(program, shell)));

  return program;
}

export function configJson(config: Config): object {
  return {
    ...config,
    backends: Object.fromEntries(config.backends),
    gate: { ...config.gate, autoPromote: Object.fromEntries(config.gate.autoPromote) },
  };
}

export function runCli(argv: string[]): Promise<number> {
  return runProgram(buildProgram(), argv);
}
