// The configuration's shape and its built-in defaults (what aptgate runs with when no file,
// variable or option says otherwise); config.ts applies settings over them.
import { arch as hostArch } from 'node:os';

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

/** The security advisory feeds aptgate knows ([advisories]): each is read by the parser of that name. */
export const ADVISORY_FEEDS = ['debian-tracker', 'dsa', 'dla', 'usn'] as const;
export type AdvisoryFeedName = (typeof ADVISORY_FEEDS)[number];

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
    /** stage → cooldown: a version enters the stage by promotion only this long after it was first seen upstream */
    minAge: Map<string, number>;
    /** stage → the fast lane's cooldown (security suites, fixes of a CVE of `fastLaneUrgency` or more); default none */
    minAgeSecurity: Map<string, number>;
    /** the least urgency of a fixed CVE that puts an update in the fast lane; null: only security suites */
    fastLaneUrgency: 'low' | 'medium' | 'high' | 'critical' | null;
  };
  /** PEM files: when both are set the server speaks HTTPS (agents and apt) */
  tls: { cert: string; key: string };
  /** /RPC2: the whole body of a request must arrive within this after its headers */
  rpcBodyTimeoutMs: number;
  /** the HTTP API and the web console ([admin]) */
  admin: {
    /** a listener of their own; null: served on the main listener */
    listen: { host: string; port: number } | null;
    /** a browser session unused this long ends */
    sessionIdleMs: number;
    /** a browser session ends this long after login */
    sessionMaxMs: number;
    /** whether the web console is served (the API is, either way) */
    console: boolean;
  };
  /** the security advisory feeds ([advisories]) */
  advisories: {
    /** the feeds kept: fetched on the timer (when fetch is on) and accepted by imports */
    feeds: AdvisoryFeedName[];
    /** feed → URL ('' : none, imports only) */
    urls: Record<AdvisoryFeedName, string>;
    /** false: nothing is fetched (an isolated network: `aptgate advisories import` only) */
    fetch: boolean;
    /** how often each feed is fetched again; 0: only when asked (`aptgate advisories refresh`) */
    refreshIntervalMs: number;
    /** the whole download of one feed */
    timeoutMs: number;
    /** the largest download (and file imported) */
    maxBytes: number;
    /** pending updates' changelogs: .debs fetched through the proxy when missing, cached ones only, or none */
    changelogs: 'fetch' | 'cached' | 'off';
  };
  /** this server as a site cache under a central aptgate ([site]; issue 18) */
  site: {
    /** the central server's base URL; '' : not a site */
    parent: string;
    /** the parent's public key (a keyring file) that verifies its stages; '' : STATE_DIR/site/parent-key.gpg */
    parentKey: string;
    /** how often the site reports its statistics and health to the parent */
    reportIntervalMs: number;
    /** pre-loading's bytes per second (0: no limit) */
    preloadRate: number;
    /** the local hours pre-loading runs in (may wrap past midnight); null: any time */
    preloadWindow: { startMin: number; endMin: number } | null;
  };
}

export const DEBIAN_KEYRING = '/usr/share/keyrings/debian-archive-keyring.gpg';

export function nativeArchitecture(): string {
  const map: Record<string, string> = {
    x64: 'amd64',
    arm64: 'arm64',
    arm: 'armhf',
    ia32: 'i386',
    ppc64: 'ppc64el',
    s390x: 's390x',
    riscv64: 'riscv64',
  };
  return map[hostArch()] ?? hostArch();
}

export function backend(name: string, mirrors: string[], aliases: string[]): BackendConfig {
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
      jobLeaseMs: 15 * 60_000,
      jobAttempts: 3,
      jobDeadlineMs: 7 * 86_400_000,
      scheduleTickMs: 30_000,
      reportMaxPackages: 20_000,
      reportMaxBytes: 16 * 1024 * 1024,
      reportRate: 20,
      enrolLimits: {
        address: { count: 100, windowMs: 3_600_000 },
        token: { count: 500, windowMs: 3_600_000 },
        machine: { count: 10, windowMs: 3_600_000 },
      },
    },
    tls: { cert: '', key: '' },
    rpcBodyTimeoutMs: 30_000,
    admin: { listen: null, sessionIdleMs: 8 * 3_600_000, sessionMaxMs: 7 * 86_400_000, console: true },
    gate: {
      stages: ['test', 'production'],
      autoPromote: new Map(),
      minAge: new Map(),
      minAgeSecurity: new Map(),
      fastLaneUrgency: 'high',
    },
    advisories: {
      feeds: ['debian-tracker', 'dsa', 'dla'],
      urls: {
        'debian-tracker': 'https://security-tracker.debian.org/tracker/data/json',
        dsa: 'https://salsa.debian.org/security-tracker-team/security-tracker/-/raw/master/data/DSA/list',
        dla: 'https://salsa.debian.org/security-tracker-team/security-tracker/-/raw/master/data/DLA/list',
        // Ubuntu publishes its OSV notices as a git tree of files and as a zip (osv.dev), no one
        // JSON file the parser reads: an administrator's own copy (a JSON array), or imports
        usn: '',
      },
      fetch: true,
      changelogs: 'fetch',
      refreshIntervalMs: 6 * 3_600_000,
      timeoutMs: 10 * 60_000,
      maxBytes: 256 * 1024 * 1024,
    },
    site: { parent: '', parentKey: '', reportIntervalMs: 5 * 60_000, preloadRate: 0, preloadWindow: null },
    backends: new Map([
      [
        'debian',
        backend(
          'debian',
          ['http://deb.debian.org/debian'],
          ['ftp.debian.org/debian', 'httpredir.debian.org/debian', 'cdn-fastly.deb.debian.org/debian'],
        ),
      ],
      [
        'debian-security',
        backend(
          'debian-security',
          ['http://deb.debian.org/debian-security'],
          ['security.debian.org/debian-security', 'security.debian.org', 'cdn-fastly.deb.debian.org/debian-security'],
        ),
      ],
    ]),
  };
}

export interface RateLimit {
  count: number;
  windowMs: number;
}
