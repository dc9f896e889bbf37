// Which configuration a command uses when none is named: --config, APTGATE_CONFIG, the
// checkout's state directory, the packaged /etc/aptgate/aptgate.conf. Administrative commands
// only ever open state that exists (a missing database is an error naming where they looked);
// only `serve` creates state.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { loadConfig, type Config, type ConfigOverrides } from '../config.js';
import { fail } from '../errors.js';
import { checkoutRoot, defaultStateDir, PACKAGED_CONFIG } from '../sys/checkout.js';

export type ConfigUse = 'serve' | 'admin' | 'print';

export interface LocateInput {
  /** --config */
  file?: string;
  overrides: ConfigOverrides;
  env?: NodeJS.ProcessEnv;
  /** the checkout this program runs from (tests inject one) */
  checkout?: string | undefined;
  /** the packaged configuration file (tests inject one) */
  packaged?: string;
}

/** The configuration for a command: loaded from the first source found, state checked for administrative use. */
export function locateConfig(use: ConfigUse, input: LocateInput): Config {
  const env = input.env ?? process.env;
  const checkout = 'checkout' in input ? input.checkout : checkoutRoot();
  const packaged = input.packaged ?? PACKAGED_CONFIG;
  const named = input.file ?? (env.APTGATE_CONFIG || undefined);
  const o = input.overrides;
  const statePinned =
    o.db !== undefined ||
    o.stateDir !== undefined ||
    env.APTGATE_SERVER_DB !== undefined ||
    env.APTGATE_SERVER_STATE_DIR !== undefined;
  const load = (file: string | undefined) =>
    loadConfig({ ...(file ? { file } : {}), env: { ...env, APTGATE_CONFIG: '' }, overrides: o, checkout });

  if (named || statePinned) {
    const config = load(named);
    if (use === 'admin' && !existsSync(config.db)) {
      const from = input.file
        ? `--config ${input.file}`
        : env.APTGATE_CONFIG
          ? `APTGATE_CONFIG=${env.APTGATE_CONFIG}`
          : o.db !== undefined
            ? '--db'
            : o.stateDir !== undefined
              ? '--state-dir'
              : 'the environment';
      fail(
        'STATE_NOT_FOUND',
        `the database ${config.db} (from ${from}) does not exist: the server has not run with this configuration yet (only "aptgate serve" creates state); check the path or start the server once`,
        { db: config.db },
      );
    }
    return config;
  }
  const checkoutDb = checkout ? path.join(defaultStateDir(checkout), 'aptgate.db') : undefined;
  if (use !== 'admin') {
    // serve (and config): a checkout keeps its own state; an installation reads the packaged file
    return load(!checkout && existsSync(packaged) ? packaged : undefined);
  }
  if (checkoutDb && existsSync(checkoutDb)) return load(undefined);
  if (existsSync(packaged)) {
    const config = load(packaged);
    if (existsSync(config.db)) return config;
    fail(
      'STATE_NOT_FOUND',
      `no aptgate state: ${packaged} names the database ${config.db}, which does not exist yet (is the aptgate service started?)`,
      { db: config.db },
    );
  }
  const looked = [
    '--config (not given)',
    'APTGATE_CONFIG (not set)',
    checkoutDb
      ? `${checkoutDb} (the checkout's state: none yet)`
      : "a checkout's state/ (this aptgate is not run from a checkout)",
    `${packaged} (absent)`,
  ];
  fail(
    'STATE_NOT_FOUND',
    `no aptgate state found; looked at:\n  ${looked.join('\n  ')}\nstart the server first (npm start, or aptgate serve), or name its configuration with --config FILE or its database with --db FILE`,
    { looked },
  );
}
