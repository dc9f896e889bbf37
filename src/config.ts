// One typed, validated configuration: embedded defaults, then an optional file, then the
// environment (APTGATE_*), then command-line overrides. Every error names the key.
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { arch as hostArch } from 'node:os';
import path from 'node:path';
import { fail, isAptgateError } from './errors.js';
import { failWithProblems, readConfigText, readEnvironment, settingHint, type ConfigItem, type ConfigProblem, type ConfigSchema } from './config-text.js';
import { checkoutRoot, defaultStateDir } from './sys/checkout.js';

export interface BackendConfig {
  name: string;
  /** ordered upstream mirrors (http or https), without trailing slash */
  mirrors: string[];
  /** other host/path prefixes that clients use in proxy mode for this backend */
  aliases: string[];
  /** keyrings that must sign the backend's InRelease (gpgv --keyring) */
  keyrings: string[];
  /** suites refreshed by the server even when no client asked for them */
  trackSuites: string[];
  trackComponents: string[];
  trackArchitectures: string[];
  /** hosts (host or host:port) besides the mirrors' own that upstream redirects may lead to */
  redirectHosts: string[];
}

export interface Config {
  listen: string;
  port: number;
  /** client networks (CIDRs: 10.0.0.0/8, fd00::/8) that may use any listener; empty: everyone */
  allow: string[];
  /** a listener of its own for /-/metrics (then 404 on the main port); null: the main port */
  metricsListen: { host: string; port: number } | null;
  /** where a server keeps its state when cache_dir/db are not set (see sys/checkout.ts) */
  stateDir: string;
  cacheDir: string;
  db: string;
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  /** log lines for people (time, level, message, fields) or JSON; auto: people when stdout is a terminal */
  logFormat: 'auto' | 'human' | 'json';
  proxy: {
    /** how long a verified InRelease is served before the next conditional check upstream */
    releaseTtlMs: number;
    connectTimeoutMs: number;
    /** time allowed for upstream headers and between two body chunks */
    idleTimeoutMs: number;
    /** how long a failed mirror is kept aside before it is tried first again */
    mirrorRetryMs: number;
    /** objects up to this size are verified completely before the first byte is sent */
    smallObjectBytes: number;
    /** period of the server's own refresh of tracked suites; 0 disables it */
    refreshIntervalMs: number;
    /** host:port pairs that CONNECT may tunnel to (never cached) */
    passthrough: string[];
    /** memory for small immutable objects served without touching the disk; 0 disables */
    memoryCacheBytes: number;
  };
  cache: {
    /** size budget for the cache directory; 0 means no budget */
    maxBytes: number;
    /** unreferenced files younger than this (by last use) are never removed */
    cleanGraceMs: number;
    /** period of the server's own clean-up when a budget is set */
    cleanIntervalMs: number;
  };
  backends: Map<string, BackendConfig>;
  fleet: {
    /** how long a delivered job waits for the agent to start it before it is handed out again */
    jobLeaseMs: number;
    /** deliveries of one job before it fails */
    jobAttempts: number;
    /** default deadline of a job after its creation */
    jobDeadlineMs: number;
    /** how often schedules are checked */
    scheduleTickMs: number;
    /** package instances one report may carry (REPORT_TOO_LARGE beyond) */
    reportMaxPackages: number;
    /** unpacked bytes of a report's packages text; decompression stops beyond it */
    reportMaxBytes: number;
    /** reports per machine per minute that make the server store packages (full or delta); 0: no limit */
    reportRate: number;
    /** enrolments per client address, per token, per machine-id (count 0: no limit) */
    enrolLimits: { address: RateLimit; token: RateLimit; machine: RateLimit };
  };
  gate: {
    /** the release ladder, first to last; the first follows upstream */
    stages: string[];
    /** stage → soak time: its content moves on by itself once the gate holds and this long has passed */
    autoPromote: Map<string, number>;
  };
  /** PEM files: when both are set the server speaks HTTPS (agents and apt) */
  tls: { cert: string; key: string };
  /** /RPC2: the whole body of a request must arrive within this after its headers */
  rpcBodyTimeoutMs: number;
}

export const DEBIAN_KEYRING = '/usr/share/keyrings/debian-archive-keyring.gpg';
const RESERVED_BACKEND_NAMES = new Set(['-', 'stage', 'rpc2']);

export function nativeArchitecture(): string {
  const map: Record<string, string> = { x64: 'amd64', arm64: 'arm64', arm: 'armhf', ia32: 'i386', ppc64: 'ppc64el', s390x: 's390x', riscv64: 'riscv64' };
  return map[hostArch()] ?? hostArch();
}

function backend(name: string, mirrors: string[], aliases: string[]): BackendConfig {
  return {
    name,
    mirrors,
    aliases,
    keyrings: [DEBIAN_KEYRING],
    trackSuites: [],
    trackComponents: ['main'],
    trackArchitectures: [nativeArchitecture()],
    redirectHosts: [],
  };
}

export function defaultConfig(): Config {
  return {
    listen: '::',
    port: 3142,
    allow: [],
    metricsListen: null,
    // '' until loadConfig settles them: STATE_DIR/cache and STATE_DIR/aptgate.db
    stateDir: '',
    cacheDir: '',
    db: '',
    logLevel: 'info',
    logFormat: 'auto',
    proxy: {
      releaseTtlMs: 30_000,
      connectTimeoutMs: 10_000,
      idleTimeoutMs: 20_000,
      mirrorRetryMs: 60_000,
      smallObjectBytes: 1024 * 1024,
      refreshIntervalMs: 60 * 60_000,
      passthrough: ['bugs.debian.org:443', 'changelogs.ubuntu.com:443'],
      memoryCacheBytes: 32 * 1024 * 1024,
    },
    cache: { maxBytes: 0, cleanGraceMs: 3 * 86_400_000, cleanIntervalMs: 60 * 60_000 },
    fleet: {
      jobLeaseMs: 15 * 60_000, jobAttempts: 3, jobDeadlineMs: 7 * 86_400_000, scheduleTickMs: 30_000,
      reportMaxPackages: 20_000, reportMaxBytes: 16 * 1024 * 1024, reportRate: 20,
      enrolLimits: { address: { count: 100, windowMs: 3_600_000 }, token: { count: 500, windowMs: 3_600_000 }, machine: { count: 10, windowMs: 3_600_000 } },
    },
    tls: { cert: '', key: '' },
    rpcBodyTimeoutMs: 30_000,
    gate: { stages: ['test', 'production'], autoPromote: new Map() },
    backends: new Map([
      ['debian', backend('debian', ['http://deb.debian.org/debian'], ['ftp.debian.org/debian', 'httpredir.debian.org/debian', 'cdn-fastly.deb.debian.org/debian'])],
      ['debian-security', backend('debian-security', ['http://deb.debian.org/debian-security'], ['security.debian.org/debian-security', 'security.debian.org', 'cdn-fastly.deb.debian.org/debian-security'])],
    ]),
  };
}

// ---- value parsers -------------------------------------------------------------------

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

export function parseDuration(key: string, value: string): number {
  if (/^\s*0\s*$/.test(value)) return 0; // zero needs no unit ("refresh_interval = 0": off)
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)\s*$/.exec(value);
  if (!m) fail('CONFIG_INVALID', `${key}: expected a duration such as 30s, 10m, 6h or 7d, got "${value}"`, { key });
  return Math.round(Number(m[1]) * DURATION_UNITS[m[2]!]!);
}

const SIZE_UNITS: Record<string, number> = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 };

export function parseSize(key: string, value: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?\s*$/i.exec(value);
  if (!m) fail('CONFIG_INVALID', `${key}: expected a size such as 512M or 50G, got "${value}"`, { key });
  return Math.round(Number(m[1]) * SIZE_UNITS[m[2]!.toLowerCase()]!);
}

/** At most `count` per `windowMs`; count 0: no limit. */
export interface RateLimit { count: number; windowMs: number }

/** "N/DURATION" (e.g. 100/1h), or 0 / off for no limit. */
function parseRate(key: string, value: string): RateLimit {
  if (/^\s*(?:0|off)\s*$/.test(value)) return { count: 0, windowMs: 1 };
  const m = /^\s*(\d{1,9})\s*\/\s*(\S+)\s*$/.exec(value);
  if (!m) fail('CONFIG_INVALID', `${key}: expected COUNT/DURATION such as 100/1h (or 0 for no limit), got "${value}"`, { key });
  const windowMs = parseDuration(key, m[2]!);
  if (windowMs < 1000) fail('CONFIG_INVALID', `${key}: the duration must be at least 1s`, { key });
  return { count: Number(m[1]), windowMs };
}

function parsePort(key: string, value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value.trim()) || n < 0 || n > 65535) fail('CONFIG_INVALID', `${key}: expected a port number 0-65535, got "${value}"`, { key });
  return n;
}

function parseCount(key: string, value: string, min: number, max: number): number {
  if (!/^\s*\d+\s*$/.test(value) || Number(value) < min || Number(value) > max) fail('CONFIG_INVALID', `${key}: expected a whole number ${min}..${max}, got "${value}"`, { key });
  return Number(value);
}

/**
 * "10.0.0.0/8", "fd00::/8", "192.0.2.7" (one address) → the canonical CIDR. An IPv4-mapped IPv6
 * network (::ffff:10.0.0.0/104) is the IPv4 network it maps; host bits must be zero.
 */
export function parseCidr(key: string, value: string): string {
  const m = /^([^/]+)(?:\/(\d{1,3}))?$/.exec(value.trim());
  const bad: (why: string) => never = (why) => fail('CONFIG_INVALID', `${key}: "${value}" is not a network (${why}); expected CIDRs such as 10.0.0.0/8, 192.168.1.0/24 or fd00::/8`, { key });
  if (!m) bad('address/prefix');
  let addr = m[1]!.toLowerCase();
  let family = isIP(addr);
  if (family === 0) bad('not an IPv4 or IPv6 address');
  let prefix = m[2] === undefined ? (family === 4 ? 32 : 128) : Number(m[2]);
  if (prefix > (family === 4 ? 32 : 128)) bad(`prefix /${prefix} is longer than the address`);
  let bits = addressBits(addr, family);
  if (family === 6 && prefix >= 96 && bits.startsWith('0'.repeat(80) + '1'.repeat(16))) {
    bits = bits.slice(96);
    addr = (bits.match(/.{8}/g) ?? []).map((b) => parseInt(b, 2)).join('.');
    family = 4;
    prefix -= 96;
  }
  if (prefix < bits.length && /1/.test(bits.slice(prefix))) bad(`host bits set beyond /${prefix}`);
  return `${addr}/${prefix}`;
}

/** The address as a string of 32 or 128 bits. */
function addressBits(addr: string, family: number): string {
  if (family === 4) return addr.split('.').map((o) => Number(o).toString(2).padStart(8, '0')).join('');
  // 16-bit words; a trailing dotted IPv4 part counts as two; "::" stands for the missing zeros
  const words = (part: string) => (part ? part.split(':') : []).flatMap((w) => (w.includes('.') ? addressBits(w, 4).match(/.{16}/g)! : [parseInt(w, 16).toString(2).padStart(16, '0')]));
  const [head, tail] = addr.includes('::') ? addr.split('::') as [string, string] : [addr, ''];
  const h = words(head);
  const t = words(tail);
  return [...h, ...Array<string>(8 - h.length - t.length).fill('0'.repeat(16)), ...t].join('');
}

/** "127.0.0.1:9142", "[::1]:9142", "localhost:9142" → host and port. */
function parseHostPort(key: string, value: string): { host: string; port: number } {
  const m = /^\s*(?:\[([0-9a-fA-F:.]+)\]|([^\s:[\]]+)):(\d{1,5})\s*$/.exec(value);
  if (!m) fail('CONFIG_INVALID', `${key}: expected host:port such as 127.0.0.1:9142 or [::1]:9142, got "${value}"`, { key });
  if (m[1] !== undefined && isIP(m[1]) !== 6) fail('CONFIG_INVALID', `${key}: "${m[1]}" is not an IPv6 address`, { key });
  return { host: m[1] ?? m[2]!, port: parsePort(key, m[3]!) };
}

function parseList(value: string): string[] {
  return value.split(/[\s,]+/).filter(Boolean);
}

export function parseMirror(key: string, value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    fail('CONFIG_INVALID', `${key}: "${value}" is not a URL`, { key });
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') fail('CONFIG_INVALID', `${key}: mirror "${value}" must be http:// or https://`, { key });
  if (url.search || url.hash || url.username || url.password) fail('CONFIG_INVALID', `${key}: mirror "${value}" must not carry a query, fragment or credentials`, { key });
  return url.href.replace(/\/+$/, '');
}

export function validBackendName(name: string): boolean {
  return /^[a-z0-9][a-z0-9._-]*$/.test(name) && !RESERVED_BACKEND_NAMES.has(name);
}

// ---- applying settings -----------------------------------------------------------------

type Setter = (config: Config, value: string, key: string) => void;

const SETTINGS: Record<string, Setter> = {
  'server.listen': (c, v) => { c.listen = v.trim(); },
  'server.port': (c, v, k) => { c.port = parsePort(k, v); },
  'server.allow': (c, v, k) => { c.allow = [...new Set(parseList(v).map((x) => parseCidr(k, x)))]; },
  'server.metrics_listen': (c, v, k) => { c.metricsListen = v.trim() ? parseHostPort(k, v) : null; },
  'server.state_dir': (c, v) => { c.stateDir = v.trim(); },
  'server.cache_dir': (c, v) => { c.cacheDir = v.trim(); },
  'server.db': (c, v) => { c.db = v.trim(); },
  'server.log_level': (c, v, k) => {
    const levels = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];
    if (!levels.includes(v.trim())) fail('CONFIG_INVALID', `${k}: expected one of ${levels.join(', ')}, got "${v}"`, { key: k });
    c.logLevel = v.trim() as Config['logLevel'];
  },
  'server.log_format': (c, v, k) => {
    if (!['auto', 'human', 'json'].includes(v.trim())) fail('CONFIG_INVALID', `${k}: expected auto, human or json, got "${v}"`, { key: k });
    c.logFormat = v.trim() as Config['logFormat'];
  },
  'proxy.release_ttl': (c, v, k) => { c.proxy.releaseTtlMs = parseDuration(k, v); },
  'proxy.connect_timeout': (c, v, k) => { c.proxy.connectTimeoutMs = parseDuration(k, v); },
  'proxy.idle_timeout': (c, v, k) => { c.proxy.idleTimeoutMs = parseDuration(k, v); },
  'proxy.mirror_retry': (c, v, k) => { c.proxy.mirrorRetryMs = parseDuration(k, v); },
  'proxy.small_object': (c, v, k) => { c.proxy.smallObjectBytes = parseSize(k, v); },
  'proxy.refresh_interval': (c, v, k) => { c.proxy.refreshIntervalMs = parseDuration(k, v); },
  'proxy.passthrough': (c, v, k) => {
    const list = parseList(v);
    for (const hp of list) if (!/^[a-z0-9.-]+:\d+$/i.test(hp)) fail('CONFIG_INVALID', `${k}: expected host:port entries, got "${hp}"`, { key: k });
    c.proxy.passthrough = list.map((s) => s.toLowerCase());
  },
  'proxy.memory_cache': (c, v, k) => { c.proxy.memoryCacheBytes = parseSize(k, v); },
  'cache.max_size': (c, v, k) => { c.cache.maxBytes = parseSize(k, v); },
  'cache.clean_grace': (c, v, k) => { c.cache.cleanGraceMs = parseDuration(k, v); },
  'cache.clean_interval': (c, v, k) => { c.cache.cleanIntervalMs = parseDuration(k, v); },
  'server.tls_cert': (c, v) => { c.tls.cert = v.trim(); },
  'server.tls_key': (c, v) => { c.tls.key = v.trim(); },
  'server.rpc_body_timeout': (c, v, k) => { c.rpcBodyTimeoutMs = parseDuration(k, v); },
  'fleet.job_lease': (c, v, k) => { c.fleet.jobLeaseMs = parseDuration(k, v); },
  'fleet.job_attempts': (c, v, k) => {
    if (!/^\s*\d+\s*$/.test(v) || Number(v) < 1 || Number(v) > 100) fail('CONFIG_INVALID', `${k}: expected 1..100, got "${v}"`, { key: k });
    c.fleet.jobAttempts = Number(v);
  },
  'fleet.job_deadline': (c, v, k) => { c.fleet.jobDeadlineMs = parseDuration(k, v); },
  'fleet.schedule_tick': (c, v, k) => { c.fleet.scheduleTickMs = parseDuration(k, v); },
  'fleet.report_max_packages': (c, v, k) => { c.fleet.reportMaxPackages = parseCount(k, v, 1, 10_000_000); },
  'fleet.report_max_bytes': (c, v, k) => { c.fleet.reportMaxBytes = parseSize(k, v); },
  'fleet.report_rate': (c, v, k) => { c.fleet.reportRate = parseCount(k, v, 0, 100_000); },
  'fleet.enrol_limit_address': (c, v, k) => { c.fleet.enrolLimits.address = parseRate(k, v); },
  'fleet.enrol_limit_token': (c, v, k) => { c.fleet.enrolLimits.token = parseRate(k, v); },
  'fleet.enrol_limit_machine': (c, v, k) => { c.fleet.enrolLimits.machine = parseRate(k, v); },
  'gate.stages': (c, v, k) => {
    const list = parseList(v);
    if (list.length < 1 || list.some((s) => !/^[a-z0-9][a-z0-9_-]{0,31}$/.test(s)) || new Set(list).size !== list.length) {
      fail('CONFIG_INVALID', `${k}: expected distinct stage names (lower-case letters, digits, _ -), got "${v}"`, { key: k });
    }
    c.gate.stages = list;
  },
  'gate.auto_promote': (c, v, k) => {
    c.gate.autoPromote = new Map(parseList(v).map((pair) => {
      const m = /^([a-z0-9][a-z0-9_-]*)=(.+)$/.exec(pair);
      if (!m) fail('CONFIG_INVALID', `${k}: expected STAGE=SOAK pairs such as test=2d, got "${pair}"`, { key: k });
      return [m[1]!, parseDuration(k, m[2]!)] as const;
    }));
  },
};

const BACKEND_SETTINGS: Record<string, (b: BackendConfig, value: string, key: string) => void> = {
  mirrors: (b, v, k) => {
    const list = parseList(v);
    if (list.length === 0) fail('CONFIG_INVALID', `${k}: at least one mirror URL is required`, { key: k });
    b.mirrors = list.map((m) => parseMirror(k, m));
  },
  aliases: (b, v, k) => {
    b.aliases = parseList(v).map((a) => {
      const clean = a.replace(/^https?:\/\//, '').replace(/\/+$/, '').toLowerCase();
      if (!/^[a-z0-9.-]+(:\d+)?(\/[^\s]*)?$/.test(clean)) fail('CONFIG_INVALID', `${k}: "${a}" is not a host or host/path`, { key: k });
      return clean;
    });
  },
  keyring: (b, v, k) => {
    const list = parseList(v);
    if (list.length === 0) fail('CONFIG_INVALID', `${k}: at least one keyring file is required`, { key: k });
    b.keyrings = list;
  },
  track_suites: (b, v) => { b.trackSuites = parseList(v); },
  track_components: (b, v) => { b.trackComponents = parseList(v); },
  track_architectures: (b, v) => { b.trackArchitectures = parseList(v); },
  redirect_hosts: (b, v, k) => {
    b.redirectHosts = parseList(v).map((h) => {
      if (!/^[a-z0-9.-]+(:\d+)?$/i.test(h)) fail('CONFIG_INVALID', `${k}: expected host or host:port entries, got "${h}"`, { key: k });
      return h.toLowerCase();
    });
  },
};

function ensureBackend(config: Config, name: string, key: string): BackendConfig {
  if (!validBackendName(name)) fail('CONFIG_INVALID', `${key}: "${name}" is not a valid backend name (lower-case letters, digits, . _ -; not "stage")`, { key });
  let b = config.backends.get(name);
  if (!b) {
    b = backend(name, [], []);
    config.backends.set(name, b);
  }
  return b;
}

/** The plain [sections] of the file (besides [backend NAME]). */
const SECTIONS: readonly string[] = ['server', 'proxy', 'cache', 'fleet', 'gate'];

const SCHEMA: ConfigSchema = { sections: SECTIONS, settings: Object.keys(SETTINGS), backendSettings: Object.keys(BACKEND_SETTINGS) };

/** Every setting there is: `section.key`, and a backend's keys (`backend.NAME.KEY`); the doc-sync tests read it. */
export function settingNames(): { settings: readonly string[]; backendSettings: readonly string[] } {
  return { settings: SCHEMA.settings, backendSettings: SCHEMA.backendSettings };
}

/** Sets `section.key` (or `backend.NAME.key`) from a string value. */
export function applySetting(config: Config, fullKey: string, value: string): void {
  const bm = /^backend\.([^.]+(?:\.[^.]+)*?)\.([a-z_]+)$/.exec(fullKey);
  if (bm) {
    const setter = BACKEND_SETTINGS[bm[2]!];
    if (!setter) fail('CONFIG_INVALID', `${fullKey}: unknown backend setting: ${settingHint(SCHEMA, 'backend', bm[2]!)}`, { key: fullKey });
    setter(ensureBackend(config, bm[1]!, fullKey), value, fullKey);
    return;
  }
  const setter = SETTINGS[fullKey];
  const dot = fullKey.indexOf('.');
  if (!setter) fail('CONFIG_INVALID', `${fullKey}: unknown setting${dot > 0 && SECTIONS.includes(fullKey.slice(0, dot)) ? `: ${settingHint(SCHEMA, fullKey.slice(0, dot), fullKey.slice(dot + 1))}` : ''}`, { key: fullKey });
  setter(config, value, fullKey);
}

/** Applies settings read from a file or the environment; every problem among them is reported at once. */
function applyRead(config: Config, read: { items: ConfigItem[]; problems: ConfigProblem[] }, source: string, fromEnv = false): void {
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
      problems.push(fromEnv ? { key, message: `${err.message} (set by ${item.where})` } : { where: item.where, key, message: err.message });
    }
  }
  if (problems.length) failWithProblems(source, problems);
}

/** The file's text (config-text.ts reads it): `[server]`, `[proxy]`, `[cache]`, `[backend NAME]`, `key = value`, `#` comments. */
export function parseConfigText(config: Config, text: string, source: string): void {
  applyRead(config, readConfigText(text, source, SCHEMA), source);
}

/** APTGATE_SERVER_PORT=3142, APTGATE_PROXY_RELEASE_TTL=1m, APTGATE_BACKEND_DEBIAN_SECURITY_MIRRORS=... (`_` in a backend name stands for `-`). */
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
}

/** Unset state paths → under server.state_dir (the checkout's state/ or /var/lib/aptgate). */
export function settleStatePaths(config: Config, checkout: string | undefined): void {
  config.stateDir ||= defaultStateDir(checkout);
  config.cacheDir ||= path.join(config.stateDir, 'cache');
  config.db ||= path.join(config.stateDir, 'aptgate.db');
}

export function loadConfig(opts: { file?: string; env?: NodeJS.ProcessEnv; overrides?: ConfigOverrides; checkout?: string | undefined } = {}): Config {
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
    if (b.mirrors.length === 0) fail('CONFIG_INVALID', `backend.${b.name}.mirrors: backend "${b.name}" has no mirror`, { key: `backend.${b.name}.mirrors` });
  }
  if (Boolean(config.tls.cert) !== Boolean(config.tls.key)) fail('CONFIG_INVALID', 'server.tls_cert and server.tls_key: set both or neither', { key: 'server.tls_cert' });
  for (const s of config.gate.autoPromote.keys()) {
    const i = config.gate.stages.indexOf(s);
    if (i < 0 || i === config.gate.stages.length - 1) fail('CONFIG_INVALID', `gate.auto_promote: "${s}" is not a stage with a next one`, { key: 'gate.auto_promote' });
  }
  // these timers cannot be turned off: 0 would run them without pause
  if (config.cache.cleanIntervalMs <= 0) fail('CONFIG_INVALID', 'cache.clean_interval: must be more than 0', { key: 'cache.clean_interval' });
  if (config.fleet.scheduleTickMs <= 0) fail('CONFIG_INVALID', 'fleet.schedule_tick: must be more than 0', { key: 'fleet.schedule_tick' });
  if (config.rpcBodyTimeoutMs < 1) fail('CONFIG_INVALID', 'server.rpc_body_timeout: must be more than 0', { key: 'server.rpc_body_timeout' });
  if (config.fleet.jobLeaseMs < 1000) fail('CONFIG_INVALID', 'fleet.job_lease: at least 1s', { key: 'fleet.job_lease' });
  if (config.fleet.reportMaxBytes < 1024 || config.fleet.reportMaxBytes > 1024 ** 3) fail('CONFIG_INVALID', 'fleet.report_max_bytes: 1K..1G', { key: 'fleet.report_max_bytes' });
  if (config.proxy.releaseTtlMs < 0) fail('CONFIG_INVALID', 'proxy.release_ttl: must not be negative', { key: 'proxy.release_ttl' });
  if (config.proxy.smallObjectBytes > 64 * 1024 * 1024) fail('CONFIG_INVALID', 'proxy.small_object: at most 64M (objects this size are held back until verified)', { key: 'proxy.small_object' });
}
