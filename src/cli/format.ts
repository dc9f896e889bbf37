// Human output of the CLI commands.
import type { Config } from '../config.js';
import type { CacheStats, CleanResult } from '../proxy/housekeeping.js';
import type { VerifyProblem, VerifyResult } from '../proxy/verify.js';
import { formatBytes } from '../term/bytes.js';
import { visible } from '../term/visible.js';

export { formatBytes };

function ms(n: number): string {
  if (n === 0) return '0';
  if (n % 86_400_000 === 0) return `${n / 86_400_000}d`;
  if (n % 3_600_000 === 0) return `${n / 3_600_000}h`;
  if (n % 60_000 === 0) return `${n / 60_000}m`;
  if (n % 1000 === 0) return `${n / 1000}s`;
  return `${n}ms`;
}

export function formatConfig(c: Config): string {
  const lines = [
    '[server]',
    `listen = ${c.listen}`,
    `port = ${c.port}`,
    `allow = ${c.allow.join(', ')}`,
    `metrics_listen = ${c.metricsListen ? `${c.metricsListen.host.includes(':') ? `[${c.metricsListen.host}]` : c.metricsListen.host}:${c.metricsListen.port}` : ''}`,
    `state_dir = ${c.stateDir}`,
    `cache_dir = ${c.cacheDir}`,
    `db = ${c.db}`,
    `log_level = ${c.logLevel}`,
    `log_format = ${c.logFormat}`,
    '',
    '[proxy]',
    `release_ttl = ${ms(c.proxy.releaseTtlMs)}`,
    `connect_timeout = ${ms(c.proxy.connectTimeoutMs)}`,
    `idle_timeout = ${ms(c.proxy.idleTimeoutMs)}`,
    `mirror_retry = ${ms(c.proxy.mirrorRetryMs)}`,
    `small_object = ${c.proxy.smallObjectBytes}`,
    `refresh_interval = ${ms(c.proxy.refreshIntervalMs)}`,
    `passthrough = ${c.proxy.passthrough.join(' ')}`,
    `memory_cache = ${c.proxy.memoryCacheBytes}`,
    '',
    '[cache]',
    `max_size = ${c.cache.maxBytes}`,
    `clean_grace = ${ms(c.cache.cleanGraceMs)}`,
    `clean_interval = ${ms(c.cache.cleanIntervalMs)}`,
  ];
  for (const b of c.backends.values()) {
    lines.push(
      '',
      `[backend ${b.name}]`,
      `mirrors = ${b.mirrors.join(' ')}`,
      `aliases = ${b.aliases.join(' ')}`,
      `keyring = ${b.keyrings.join(' ')}`,
      `track_suites = ${b.trackSuites.join(' ')}`,
      `track_components = ${b.trackComponents.join(' ')}`,
      `track_architectures = ${b.trackArchitectures.join(' ')}`,
      `redirect_hosts = ${b.redirectHosts.join(' ')}`,
    );
  }
  return lines.join('\n') + '\n';
}

export function formatStats(s: CacheStats): string {
  const lines = [`cache ${s.directory}: ${s.files} files, ${formatBytes(s.bytes)}`];
  for (const [name, b] of Object.entries(s.backends)) {
    lines.push(`  ${name}: ${b.files} files (${b.pool} pool, ${b.indexes} index), ${formatBytes(b.bytes)}`);
  }
  lines.push(`snapshots (current): ${s.snapshots}`);
  lines.push(
    `package index: ${s.packageIndex.indexFiles} Packages contents, ${s.packageIndex.packages} package files, ${s.packageIndex.entries} entries`,
  );
  return lines.join('\n') + '\n';
}

export function formatCleanResult(r: CleanResult): string {
  // cache keys follow the paths clients asked for
  const lines = r.removed.map(
    (x) => `${r.dryRun ? 'would remove' : 'removed'} ${visible(x.key)} (${formatBytes(x.size)}, ${visible(x.reason)})`,
  );
  lines.push(
    `${r.dryRun ? 'would free' : 'freed'} ${formatBytes(r.freedBytes)} in ${r.removed.length} files; kept ${r.keptFiles} files, ${formatBytes(r.keptBytes)}`,
  );
  return lines.join('\n') + '\n';
}

function describeProblem(p: VerifyProblem): string {
  const short = (h: string) => h.slice(0, 16);
  const tail = p.evicted ? ' [evicted]' : '';
  if (p.reason === 'unvouched') return `unvouched  ${p.key}: ${formatBytes(p.size)}, no signed index names it${tail}`;
  if (p.reason === 'unreadable') return `unreadable ${p.key}${tail}`;
  const want = (p.expected ?? [])
    .map((e) => `${e.size === undefined ? '' : `${e.size} bytes, `}${short(e.sha256)}`)
    .join(' or ');
  return `mismatch   ${p.key}: ${p.size} bytes${p.actual ? `, ${short(p.actual)}` : ''}; the index says ${want}${tail}`;
}

export function formatVerifyResult(r: VerifyResult): string {
  const lines = [...r.mismatched, ...r.unvouched].map(describeProblem);
  lines.push(
    `checked ${r.checked} files (${formatBytes(r.bytes)}): ${r.ok} ok, ${r.mismatched.length} mismatched, ${r.unvouched.length} unvouched` +
      (r.fix
        ? `; evicted ${r.evicted}`
        : r.mismatched.length + r.unvouched.length > 0
          ? ' (run with --fix to evict them)'
          : ''),
  );
  return lines.join('\n') + '\n';
}
