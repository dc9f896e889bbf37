// The fleet as the administrator's commands see it: the configured SQLite database opened
// directly on the server host (nothing is exposed over the network for this), with the graph of
// services the server assembles (assembly/services.ts), without the proxy, its timers or its
// worker. The database must exist and the signing key is never made: only serve creates state.
import type { Command } from 'commander';
import { assemble, type Services } from '../assembly/services.js';
import type { Config } from '../config.js';
import { fail } from '../errors.js';
import type { FleetQueryContext } from '../fleet/queries/context.js';
import type { GateService } from '../gate/service.js';
import { openDb } from '../state/db.js';
import type { PackageIndexStore } from '../state/package-index.js';

/** The fleet's query context (fleet/queries/) and the rest of the graph the commands use. */
export interface FleetContext extends FleetQueryContext {
  packageIndex: PackageIndexStore;
  /** the release gate over the same database (promotions are published by the server when read) */
  gate: GateService;
  /** the whole graph (the fields above are parts of it) */
  services: Services;
  close(): void;
}

export function openFleet(config: Config): FleetContext {
  const db = openDb(config.db, { mustExist: true });
  try {
    const services = assemble(config, { db, dbFile: config.db, mode: 'cli' });
    const { fleet, outdated, views, gate, now, state } = services;
    return {
      config,
      db,
      fleet,
      outdated,
      profiles: state.profiles,
      views,
      viewDefs: state.viewDefs,
      packageIndex: state.packageIndex,
      gate,
      now,
      changelogRefs: services.changelogRefs,
      services,
      close: () => db.close(),
    };
  } catch (err) {
    db.close();
    throw err;
  }
}

/** Runs fn with the fleet of this configuration open, and closes the database afterwards. */
export async function withFleet<T>(config: Config, fn: (ctx: FleetContext) => T | Promise<T>): Promise<T> {
  const ctx = openFleet(config);
  try {
    return await fn(ctx);
  } finally {
    await ctx.services.stop();
    ctx.close();
  }
}

// ---- the command shell ----

/** What program.ts lends the fleet commands: output, the shared config options, the config they give. */
export interface CliShell {
  out: (s: string) => void;
  /** adds --config, --state-dir, --db, --cache-dir, --backend, --keyring to a command */
  configured: (cmd: Command) => Command;
  configFrom: (o: object) => Config;
}

/** Runs fn on the open fleet and prints its data (--json) or the human form. */
export function runner(shell: CliShell) {
  return async <T>(
    o: { json?: boolean },
    fn: (ctx: FleetContext) => T | Promise<T>,
    human: (r: T) => string,
  ): Promise<void> => {
    if ((o as { server?: string }).server !== undefined || process.env.APTGATE_SERVER)
      fail('USAGE', 'this command runs on the server host only (no --server, no APTGATE_SERVER)');
    const r = await withFleet(shell.configFrom(o), fn);
    shell.out(o.json ? JSON.stringify(r, null, 2) + '\n' : human(r));
  };
}

// ---- option values: parsed where the operations parse them (ops/values.ts) ----

export { dateOption, durationOption, idArgument, intOption, textOption } from '../ops/values.js';
