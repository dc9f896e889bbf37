// How a command runs its operation: on the server host (no --server) the database is opened and
// the operation runs as the local principal ("local root", admin, audited as such); with
// --server URL (or APTGATE_SERVER) it goes to that server's API with APTGATE_TOKEN or the token
// `aptgate login` saved. Either way the answer is the same JSON, printed by the same formatter.
import type { Command } from 'commander';
import { localPrincipal } from '../access/principal.js';
import { fail } from '../errors.js';
import { operation } from '../ops/registry.js';
import { runOperation } from '../ops/run.js';
import { credentialsPath, savedLogin } from './credentials.js';
import { withFleet, type CliShell } from './fleet-context.js';
import { remoteCall, serverUrl } from './remote.js';

export interface RemoteOpts {
  server?: string;
  json?: boolean;
}

/** Adds --server to a command that runs an operation. */
export function remoteOption(cmd: Command): Command {
  return cmd.option(
    '--server <url>',
    "run it on this aptgate server's API (env APTGATE_SERVER; token from APTGATE_TOKEN or aptgate login)",
  );
}

/** The server a command goes to, if any. */
export function remoteServer(o: RemoteOpts, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const v = o.server ?? (env.APTGATE_SERVER || undefined);
  return v === undefined ? undefined : serverUrl(v);
}

export function tokenFor(server: string, env: NodeJS.ProcessEnv = process.env): string {
  if (env.APTGATE_TOKEN) return env.APTGATE_TOKEN.trim();
  const saved = savedLogin(server);
  if (!saved)
    fail(
      'UNAUTHENTICATED',
      `no token for ${server}: run aptgate login --server ${server} (saved in ${credentialsPath()}), or set APTGATE_TOKEN`,
    );
  return saved.token;
}

/**
 * Runs `use` with a caller of the named operation: here over one opened database (the local
 * principal), or on the server's API with the token for it.
 */
async function withCaller<T>(
  shell: CliShell,
  o: RemoteOpts,
  name: string,
  use: (call: (input: object) => Promise<unknown>) => Promise<T>,
  env: NodeJS.ProcessEnv = process.env,
): Promise<T> {
  const op = operation(name);
  const server = remoteServer(o, env);
  if (server !== undefined) {
    const token = tokenFor(server, env);
    return use((input) => remoteCall(server, token, op, input as Record<string, unknown>));
  }
  return withFleet(shell.configFrom(o), (ctx) =>
    use((input) => runOperation(op, ctx.services, localPrincipal(), input)),
  );
}

/** Runs the named operation here or on the server, and returns its answer. */
export function callOperation(shell: CliShell, o: RemoteOpts, name: string, input: object): Promise<unknown> {
  return withCaller(shell, o, name, (call) => call(input));
}

/**
 * Runs a paged operation page after page (`limit` entries each) until every entry of `key` is
 * there, and returns the first answer with all of them: a command prints the whole list while
 * the server answers in bounded pages (one database opened here, one API page per request there).
 */
export function callAllPages(
  shell: CliShell,
  o: RemoteOpts,
  name: string,
  input: object,
  key: string,
  limit = 1000,
  env: NodeJS.ProcessEnv = process.env,
): Promise<Record<string, unknown>> {
  return withCaller(
    shell,
    o,
    name,
    async (call) => {
      let first: Record<string, unknown> | undefined;
      const all: unknown[] = [];
      for (let page = 1; ; page++) {
        const r = (await call({ ...input, page, limit })) as Record<string, unknown> & { total: number };
        const rows = r[key] as unknown[];
        first ??= r;
        all.push(...rows);
        if (rows.length < limit || all.length >= r.total) break;
      }
      return { ...first, [key]: all, page: 1, limit: null };
    },
    env,
  );
}

/** Runs an operation and prints its answer: JSON with --json, else the human form. */
export function opRunner(shell: CliShell) {
  return async <T>(o: RemoteOpts, name: string, input: object, human: (r: T) => string): Promise<void> => {
    const r = (await callOperation(shell, o, name, input)) as T;
    shell.out(o.json ? JSON.stringify(r, null, 2) + '\n' : human(r));
  };
}
