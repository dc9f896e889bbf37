// One typed, validated configuration: embedded defaults, then an optional file, then the
// environment (APTGATE_*), then command-line overrides. Every error names the key.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fail, isAptgateError } from './errors.js';
import {
  failWithProblems,
  readConfigText,
  readEnvironment,
  settingHint,
  type ConfigItem,
  type ConfigProblem,
  type ConfigSchema,
} from './config-text.js';
import { checkoutRoot, defaultStateDir } from './sys/checkout.js';
import {
  ADVISORY_FEEDS,
  backend,
  DEBIAN_KEYRING,
  defaultConfig,
  nativeArchitecture,
  type AdvisoryFeedName,
  type BackendConfig,
  type Config,
  type RateLimit,
} from './config-defaults.js';
import {
  parseBool,
  parseCidr,
  parseCount,
  parseDuration,
  parseHostPort,
  parseList,
  parseMirror,
  parsePort,
  parseRate,
  parseSize,
  validBackendName,
} from './config-values.js';
import { ADVISORY_SETTINGS, validateAdvisories } from './config-advisories.js';
import { SITE_SETTINGS } from './config-site.js';

export {
  ADVISORY_FEEDS,
  DEBIAN_KEYRING,
  defaultConfig,
  nativeArchitecture,
  parseCidr,
  parseDuration,
  parseMirror,
  parseSize,
  validBackendName,
};
export type { AdvisoryFeedName, BackendConfig, Config, RateLimit };

// ---- applying settings -----------------------------------------------------------------

type Setter = (config: Config, value: string, key: string) => void;

/** STAGE=DURATION pairs (auto_promote, min_age, min_age_security). */
function stageDurations(key: string, value: string, expected: string): Map<string, number> {
  return new Map(
    parseList(value).map((pair) => {
      const m = /^([a-z0-9][a-z0-9_-]*)=(.+)$/.exec(pair);
      if (!m) fail('CONFIG_INVALID', `${key}: expected ${expected}, got "${pair}"`, { key });
      return [m[1]!, parseDuration(key, m[2]!)] as const;
    }),
  );
}

const SETTINGS: Record<string, Setter> = {
  'server.listen': (c, v) => {
    c.listen = v.trim();
  },
  'server.port': (c, v, k) => {
    c.port = parsePort(k, v);
  },
  'server.allow': (c, v, k) => {
    c.allow = [...new Set(parseList(v).map((x) => parseCidr(k, x)))];
  },
  'server.metrics_listen': (c, v, k) => {
    c.metricsListen = v.trim() ? parseHostPort(k, v) : null;
  },
  'server.state_dir': (c, v) => {
    c.stateDir = v.trim();
  },
  'server.cache_dir': (c, v) => {
    c.cacheDir = v.trim();
  },
  'server.db': (c, v) => {
    c.db = v.trim();
  },
  'server.log_level': (c, v, k) => {
    const levels = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];
    if (!levels.includes(v.trim()))
      fail('CONFIG_INVALID', `${k}: expected one of ${levels.join(', ')}, got "${v}"`, { key: k });
    c.logLevel = v.trim() as Config['logLevel'];
  },
  'server.log_format': (c, v, k) => {
    if (!['auto', 'human', 'json'].includes(v.trim()))
      fail('CONFIG_INVALID', `${k}: expected auto, human or json, got "${v}"`, { key: k });
    c.logFormat = v.trim() as Config['logFormat'];
  },
  'proxy.release_ttl': (c, v, k) => {
    c.proxy.releaseTtlMs = parseDuration(k, v);
  },
  'proxy.connect_timeout': (c, v, k) => {
    c.proxy.connectTimeoutMs = parseDuration(k, v);
  },
  'proxy.idle_timeout': (c, v, k) => {
    c.proxy.idleTimeoutMs = parseDuration(k, v);
  },
  'proxy.mirror_retry': (c, v, k) => {
    c.proxy.mirrorRetryMs = parseDuration(k, v);
  },
  'proxy.small_object': (c, v, k) => {
    c.proxy.smallObjectBytes = parseSize(k, v);
  },
  'proxy.refresh_interval': (c, v, k) => {
    c.proxy.refreshIntervalMs = parseDuration(k, v);
  },
  'proxy.passthrough': (c, v, k) => {
    const list = parseList(v);
    for (const hp of list)
      if (!/^[a-z0-9.-]+:\d+$/i.test(hp))
        fail('CONFIG_INVALID', `${k}: expected host:port entries, got "${hp}"`, { key: k });
    c.proxy.passthrough = list.map((s) => s.toLowerCase());
  },
  'proxy.memory_cache': (c, v, k) => {
    c.proxy.memoryCacheBytes = parseSize(k, v);
  },
  'cache.max_size': (c, v, k) => {
    c.cache.maxBytes = parseSize(k, v);
  },
  'cache.clean_grace': (c, v, k) => {
    c.cache.cleanGraceMs = parseDuration(k, v);
  },
  'cache.clean_interval': (c, v, k) => {
    c.cache.cleanIntervalMs = parseDuration(k, v);
  },
  'server.tls_cert': (c, v) => {
    c.tls.cert = v.trim();
  },
  'server.tls_key': (c, v) => {
    c.tls.key = v.trim();
  },
  'server.rpc_body_timeout': (c, v, k) => {
    c.rpcBodyTimeoutMs = parseDuration(k, v);
  },
  'fleet.job_lease': (c, v, k) => {
    c.fleet.jobLeaseMs = parseDuration(k, v);
  },
  'fleet.job_attempts': (c, v, k) => {
    if (!/^\s*\d+\s*$/.test(v) || Number(v) < 1 || Number(v) > 100)
      fail('CONFIG_INVALID', `${k}: expected 1..100, got "${v}"`, { key: k });
    c.fleet.jobAttempts = Number(v);
  },
  'fleet.job_deadline': (c, v, k) => {
    c.fleet.jobDeadlineMs = parseDuration(k, v);
  },
  'fleet.schedule_tick': (c, v, k) => {
    c.fleet.scheduleTickMs = parseDuration(k, v);
  },
  'fleet.report_max_packages': (c, v, k) => {
    c.fleet.reportMaxPackages = parseCount(k, v, 1, 10_000_000);
  },
  'fleet.report_max_bytes': (c, v, k) => {
    c.fleet.reportMaxBytes = parseSize(k, v);
  },
  'fleet.report_rate': (c, v, k) => {
    c.fleet.reportRate = parseCount(k, v, 0, 100_000);
  },
  'fleet.enrol_limit_address': (c, v, k) => {
    c.fleet.enrolLimits.address = parseRate(k, v);
  },
  'fleet.enrol_limit_token': (c, v, k) => {
    c.fleet.enrolLimits.token = parseRate(k, v);
  },
  'fleet.enrol_limit_machine': (c, v, k) => {
    c.fleet.enrolLimits.machine = parseRate(k, v);
  },
  'gate.stages': (c, v, k) => {
    const list = parseList(v);
    if (
      list.length < 1 ||
      // never "--": a rollout's side of a stage is named <stage>--r<id>-<from|to> (index/stage-view.ts)
      list.some((s) => !/^(?!.*--)[a-z0-9][a-z0-9_-]{0,31}$/.test(s)) ||
      new Set(list).size !== list.length
    ) {
      fail(
        'CONFIG_INVALID',
        `${k}: expected distinct stage names (lower-case letters, digits, _ -, never --), got "${v}"`,
        {
          key: k,
        },
      );
    }
    c.gate.stages = list;
  },
  'gate.auto_promote': (c, v, k) => {
    c.gate.autoPromote = stageDurations(k, v, 'STAGE=SOAK pairs such as test=2d');
  },
  'gate.min_age': (c, v, k) => {
    c.gate.minAge = stageDurations(k, v, 'STAGE=AGE pairs such as production=3d');
  },
  'gate.min_age_security': (c, v, k) => {
    c.gate.minAgeSecurity = stageDurations(k, v, 'STAGE=AGE pairs such as production=1d');
  },
  'gate.fast_lane_urgency': (c, v, k) => {
    const u = v.trim().toLowerCase();
    if (!['low', 'medium', 'high', 'critical', 'off'].includes(u))
      fail('CONFIG_INVALID', `${k}: expected low, medium, high, critical or off, got "${v}"`, { key: k });
    c.gate.fastLaneUrgency = u === 'off' ? null : (u as 'low' | 'medium' | 'high' | 'critical');
  },
  'admin.listen': (c, v, k) => {
    c.admin.listen = v.trim() ? parseHostPort(k, v) : null;
  },
  'admin.session_idle': (c, v, k) => {
    c.admin.sessionIdleMs = parseDuration(k, v);
  },
  'admin.session_max': (c, v, k) => {
    c.admin.sessionMaxMs = parseDuration(k, v);
  },
  'admin.console': (c, v, k) => {
    c.admin.console = parseBool(k, v);
  },
  ...ADVISORY_SETTINGS,
  ...SITE_SETTINGS,
};

const BACKEND_SETTINGS: Record<string, (b: BackendConfig, value: string, key: string) => void> = {
  mirrors: (b, v, k) => {
    const list = parseList(v);
    if (list.length === 0) fail('CONFIG_INVALID', `${k}: at least one mirror URL is required`, { key: k });
    b.mirrors = list.map((m) => parseMirror(k, m));
  },
  aliases: (b, v, k) => {
    b.aliases = parseList(v).map((a) => {
      const clean = a
        .replace(/^https?:\/\//, '')
        .replace(/\/+$/, '')
        .toLowerCase();
      if (!/^[a-z0-9.-]+(:\d+)?(\/[^\s]*)?$/.test(clean))
        fail('CONFIG_INVALID', `${k}: "${a}" is not a host or host/path`, { key: k });
      return clean;
    });
  },
  keyring: (b, v, k) => {
    const list = parseList(v);
    if (list.length === 0) fail('CONFIG_INVALID', `${k}: at least one keyring file is required`, { key: k });
    b.keyrings = list;
  },
  track_suites: (b, v) => {
    b.trackSuites = parseList(v);
  },
  track_components: (b, v) => {
    b.trackComponents = parseList(v);
  },
  track_architectures: (b, v) => {
    b.trackArchitectures = parseList(v);
  },
  redirect_hosts: (b, v, k) => {
    b.redirectHosts = parseList(v).map((h) => {
      if (!/^[a-z0-9.-]+(:\d+)?$/i.test(h))
        fail('CONFIG_INVALID', `${k}: expected host or host:port entries, got "${h}"`, { key: k });
      return h.toLowerCase();
    });
  },
};

function ensureBackend(config: Config, name: string, key: string): BackendConfig {
  if (!validBackendName(name))
    fail(
      'CONFIG_INVALID',
      `${key}: "${name}" is not a valid backend name (lower-case letters, digits, . _ -; not "stage", "rpc2" or "console": paths of the server's own)`,
      { key },
    );
  let b = config.backends.get(name);
  if (!b) {
    b = backend(name, [], []);
    config.backends.set(name, b);
  }
  return b;
}

/** The plain [sections] of the file (besides [backend NAME]). */
const SECTIONS: readonly string[] = ['server', 'proxy', 'cache', 'fleet', 'gate', 'admin', 'advisories', 'site'];

const SCHEMA: ConfigSchema = {
  sections: SECTIONS,
  settings: Object.keys(SETTINGS),
  backendSettings: Object.keys(BACKEND_SETTINGS),
};

/** Every setting there is: `section.key`, and a backend's keys (`backend.NAME.KEY`); the doc-sync tests read it. */
export function settingNames(): { settings: readonly string[]; backendSettings: readonly string[] } {
  return { settings: SCHEMA.settings, backendSettings: SCHEMA.backendSettings };
}

/** Sets `section.key` (or `backend.NAME.key`) from a string value. */
export function applySetting(config: Config, fullKey: string, value: string): void {
  const bm = /^backend\.([^.]+(?:\.[^.]+)*?)\.([a-z_]+)$/.exec(fullKey);
  if (bm) {
    const setter = BACKEND_SETTINGS[bm[2]!];
    if (!setter)
      fail('CONFIG_INVALID', `${fullKey}: unknown backend setting: ${settingHint(SCHEMA, 'backend', bm[2]!)}`, {
        key: fullKey,
      });
    setter(ensureBackend(config, bm[1]!, fullKey), value, fullKey);
    return;
  }
  const setter = SETTINGS[fullKey];
  const dot = fullKey.indexOf('.');
  if (!setter)
    fail(
      'CONFIG_INVALID',
      `${fullKey}: unknown setting${dot > 0 && SECTIONS.includes(fullKey.slice(0, dot)) ? `: ${settingHint(SCHEMA, fullKey.slice(0, dot), fullKey.slice(dot + 1))}` : ''}`,
      { key: fullKey },
    );
  setter(config, value, fullKey);
}

/** Applies settings read from a file or the environment; every problem among them is reported at once. */
function applyRead(
  config: Config,
  read: { items: ConfigItem[]; problems: ConfigProblem[] },
  source: string,
  fromEnv = false,
): void {
  const { items, problems } = read;
  const refused = new Set<string>(); // backends whose name was refused: their settings are not judged again
  for (const item of items) {
    const backend = 'backend' in item ? item.backend : /^backend\.(.+)\.[a-z_]+$/.exec(item.key)?.[1];
    if (backend !== undefined && refused.has(backend)) continue;
    try {
      if ('backend' in item) ensureBackend(config, item.backend, `backend.${item.backend}`);
      else applySetting(config, item.key, item.value);
    } catch (err) {
      if (!isAptgateError(err, 'CONFIG_INVALID')) throw err;
      if ('backend' in item) refused.add(item.backend);
      const key = err.details?.['key'] as string | undefined;
      // a variable's error keeps the setting's name first (server.port: ...) and says where it was set
      problems.push(
        fromEnv
          ? { key, message: `${err.message} (set by ${item.where})` }
          : { where: item.where, key, message: err.message },
      );
    }
  }
  if (problems.length) failWithProblems(source, problems);
}

/**
 * The file's text (config-text.ts reads it): `[server]`, `[proxy]`, `[cache]`, `[backend NAME]`, `key = value`, `#`
 * comments.
 */
export function parseConfigText(config: Config, text: string, source: string): void {
  applyRead(config, readConfigText(text, source, SCHEMA), source);
}

/**
 * APTGATE_SERVER_PORT=3142, APTGATE_PROXY_RELEASE_TTL=1m, APTGATE_BACKEND_DEBIAN_SECURITY_MIRRORS=... (`_` in a backend
 * name stands for `-`).
 */
export function applyEnvironment(config: Config, env: NodeJS.ProcessEnv): void {
  applyRead(config, readEnvironment(env, SCHEMA), 'the environment', true);
}

export interface ConfigOverrides {
  listen?: string;
  port?: string | number;
  stateDir?: string;
  cacheDir?: string;
  db?: string;
  /** NAME=URL[,URL...] */
  backends?: string[];
  /** NAME=FILE */
  keyrings?: string[];
  tlsCert?: string;
  tlsKey?: string;
  /** a site cache under this parent ([site] parent; `serve --site-of URL`) */
  siteOf?: string;
}

/** Unset state paths → under server.state_dir (the checkout's state/ or /var/lib/aptgate). */
export function settleStatePaths(config: Config, checkout: string | undefined): void {
  config.stateDir ||= defaultStateDir(checkout);
  config.cacheDir ||= path.join(config.stateDir, 'cache');
  config.db ||= path.join(config.stateDir, 'aptgate.db');
  if (config.site.parent) config.site.parentKey ||= path.join(config.stateDir, 'site', 'parent-key.gpg');
}

export function loadConfig(
  opts: { file?: string; env?: NodeJS.ProcessEnv; overrides?: ConfigOverrides; checkout?: string | undefined } = {},
): Config {
  const config = defaultConfig();
  const env = opts.env ?? process.env;
  const file = opts.file ?? env.APTGATE_CONFIG;
  if (file) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      fail('CONFIG_FILE', `cannot read configuration file ${file}: ${(err as Error).message}`, { file });
    }
    parseConfigText(config, text, file);
  }
  applyEnvironment(config, env);
  const o = opts.overrides ?? {};
  if (o.listen !== undefined) applySetting(config, 'server.listen', o.listen);
  if (o.port !== undefined) applySetting(config, 'server.port', String(o.port));
  if (o.stateDir !== undefined) applySetting(config, 'server.state_dir', o.stateDir);
  if (o.cacheDir !== undefined) applySetting(config, 'server.cache_dir', o.cacheDir);
  if (o.db !== undefined) applySetting(config, 'server.db', o.db);
  if (o.tlsCert !== undefined) applySetting(config, 'server.tls_cert', o.tlsCert);
  if (o.tlsKey !== undefined) applySetting(config, 'server.tls_key', o.tlsKey);
  if (o.siteOf !== undefined) applySetting(config, 'site.parent', o.siteOf);
  for (const spec of o.backends ?? []) {
    const m = /^([^=]+)=(.+)$/.exec(spec);
    if (!m) fail('CONFIG_INVALID', `--backend: expected NAME=URL[,URL...], got "${spec}"`, { key: '--backend' });
    applySetting(config, `backend.${m[1]}.mirrors`, m[2]!);
  }
  for (const spec of o.keyrings ?? []) {
    const m = /^([^=]+)=(.+)$/.exec(spec);
    if (!m) fail('CONFIG_INVALID', `--keyring: expected NAME=FILE, got "${spec}"`, { key: '--keyring' });
    applySetting(config, `backend.${m[1]}.keyring`, m[2]!);
  }
  settleStatePaths(config, 'checkout' in opts ? opts.checkout : checkoutRoot());
  validate(config);
  return config;
}

export function validate(config: Config): void {
  for (const b of config.backends.values()) {
    if (b.mirrors.length === 0)
      fail('CONFIG_INVALID', `backend.${b.name}.mirrors: backend "${b.name}" has no mirror`, {
        key: `backend.${b.name}.mirrors`,
      });
  }
  if (Boolean(config.tls.cert) !== Boolean(config.tls.key))
    fail('CONFIG_INVALID', 'server.tls_cert and server.tls_key: set both or neither', { key: 'server.tls_cert' });
  for (const s of config.gate.autoPromote.keys()) {
    const i = config.gate.stages.indexOf(s);
    if (i < 0 || i === config.gate.stages.length - 1)
      fail('CONFIG_INVALID', `gate.auto_promote: "${s}" is not a stage with a next one`, { key: 'gate.auto_promote' });
  }
  // the first stage follows upstream at once: a cooldown is for the stages promotions fill
  for (const key of ['min_age', 'min_age_security'] as const) {
    const map = key === 'min_age' ? config.gate.minAge : config.gate.minAgeSecurity;
    for (const s of map.keys())
      if (config.gate.stages.indexOf(s) < 1)
        fail('CONFIG_INVALID', `gate.${key}: "${s}" is not a stage that promotions fill (not the first one)`, {
          key: `gate.${key}`,
        });
  }
  // these timers cannot be turned off: 0 would run them without pause
  if (config.cache.cleanIntervalMs <= 0)
    fail('CONFIG_INVALID', 'cache.clean_interval: must be more than 0', { key: 'cache.clean_interval' });
  if (config.fleet.scheduleTickMs <= 0)
    fail('CONFIG_INVALID', 'fleet.schedule_tick: must be more than 0', { key: 'fleet.schedule_tick' });
  if (config.rpcBodyTimeoutMs < 1)
    fail('CONFIG_INVALID', 'server.rpc_body_timeout: must be more than 0', { key: 'server.rpc_body_timeout' });
  if (config.fleet.jobLeaseMs < 1000)
    fail('CONFIG_INVALID', 'fleet.job_lease: at least 1s', { key: 'fleet.job_lease' });
  if (config.fleet.reportMaxBytes < 1024 || config.fleet.reportMaxBytes > 1024 ** 3)
    fail('CONFIG_INVALID', 'fleet.report_max_bytes: 1K..1G', { key: 'fleet.report_max_bytes' });
  if (config.admin.sessionIdleMs < 60_000 || config.admin.sessionMaxMs < config.admin.sessionIdleMs)
    fail('CONFIG_INVALID', 'admin.session_idle: at least 1m, and admin.session_max at least as long', {
      key: 'admin.session_idle',
    });
  if (config.proxy.releaseTtlMs < 0)
    fail('CONFIG_INVALID', 'proxy.release_ttl: must not be negative', { key: 'proxy.release_ttl' });
  validateAdvisories(config);
  if (config.proxy.smallObjectBytes > 64 * 1024 * 1024)
    fail('CONFIG_INVALID', 'proxy.small_object: at most 64M (objects this size are held back until verified)', {
      key: 'proxy.small_object',
    });
}
