// What crosses the wire between agent and server besides the method envelopes (docs/rpc.md):
// the parts of a report, and jobs (kinds, parameters, policy, failure reasons) with the
// checks both sides apply to a job's parameters (the server when a job is made, the agent
// again before anything runs).
import { isStrictVersion } from '../index/version.js';

/** What an agent enrols with (agent.enroll) and the server keeps with the machine. */
export interface MachineFacts {
  hostname: string;
  /** /etc/machine-id (32 lower-case hex digits) */
  machineId: string;
  architecture: string;
  foreignArchitectures: string[];
  distribution: string;
  codename: string;
  kernel: string;
  agentVersion: string;
}

/** The answer to agent.checkIn. */
export interface CheckInAnswer {
  status: 'pending' | 'approved';
  stateKnown: boolean;
  /** the server has these packages (any machine's): a report may name them by hash */
  packagesKnown: boolean;
  /** the packages hash the server holds for this machine ('' when none): a delta base */
  packagesBase: string;
  jobsWaiting: boolean;
  /** the administrator pushed: run a whole cycle now */
  pullNow: boolean;
  /** hash of the stage sources this machine should have ('' when none): fetch them when it differs */
  sources: string;
  /**
   * the apt proxy of the site this machine belongs to, `http://host[:port]/` ('' when none: the
   * agent removes its proxy file); absent from servers before issue 18 (the agent leaves the file)
   */
  aptProxy?: string;
}

export interface SourceFile {
  path: string;
  content: string;
}

export interface AptUpgradable {
  package: string;
  architecture: string;
  installed: string;
  candidate: string;
  /** the candidate comes from a security suite */
  security: boolean;
}

/** Everything a report carries besides the installed packages. */
export interface CollectedExtras {
  /** package:architecture of every package on hold */
  holds: string[];
  sources: SourceFile[];
  preferences: SourceFile[];
  /** what the machine's own apt considers upgradable */
  aptUpgradable: AptUpgradable[];
  reboot: { required: boolean; packages: string[] };
  dpkg: { audit: string; interrupted: boolean };
  /** the distribution as os-release says now (a release upgrade changes it); absent from agents before 0.2 */
  os?: { distribution: string; codename: string };
}

export type JobKind =
  | 'update'
  | 'upgrade'
  | 'dist-upgrade'
  | 'install'
  | 'remove'
  | 'hold'
  | 'unhold'
  | 'add-source'
  | 'remove-source'
  | 'refresh'
  | 'reboot'
  | 'release-upgrade'
  | 'image-revert';

export const JOB_KINDS: readonly JobKind[] = [
  'update',
  'upgrade',
  'dist-upgrade',
  'install',
  'remove',
  'hold',
  'unhold',
  'add-source',
  'remove-source',
  'refresh',
  'reboot',
  'release-upgrade',
  'image-revert',
];

/** Jobs that change installed software or restart the machine: they wait for a maintenance window. */
export const DISRUPTIVE_KINDS: ReadonlySet<JobKind> = new Set([
  'upgrade',
  'dist-upgrade',
  'install',
  'remove',
  'reboot',
  'release-upgrade',
  'image-revert',
]);

/** Kinds that only mean something on a host (an LTSP chroot does not boot by itself). */
export const HOST_ONLY_KINDS: ReadonlySet<JobKind> = new Set(['reboot']);
/** Kinds that only mean something for an LTSP chroot (its image is what clients boot). */
export const CHROOT_ONLY_KINDS: ReadonlySet<JobKind> = new Set(['image-revert']);

/** A release codename a release-upgrade moves to ("trixie", "noble"). */
export const CODENAME_RE = /^[a-z][a-z0-9]{1,30}$/;

/** An LTSP chroot's name (the directory's name under /srv/ltsp or /opt/ltsp). */
export const CHROOT_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;

export interface JobPolicy {
  /** reboot (kind reboot, or after an upgrade that requires one) only when true */
  allowReboot: boolean;
  /** run `dpkg --configure -a` first when dpkg was interrupted */
  repairDpkg: boolean;
  /** seconds to wait for the dpkg lock */
  lockTimeout: number;
  /** seconds the whole job may take */
  timeout: number;
}

export interface JobSpec {
  id: number;
  kind: JobKind;
  /**
   * install/remove/hold/unhold: { packages: string[] } ("name", "name:arch", install also
   * "name=version"); upgrade: { securityOnly?: boolean };
   * add-source: { name: string, content: string } (a deb822 .sources file);
   * remove-source: { name: string }; release-upgrade: { codename: string } (the release to move
   * to: the host, then its LTSP chroots); image-revert: {} (an LTSP chroot's previous image)
   */
  params: Record<string, unknown>;
  policy: JobPolicy;
}

export type FailureReason =
  | 'dpkg-lock'
  | 'conffile-prompt'
  | 'held-packages'
  | 'broken-dependencies'
  | 'network'
  | 'signature'
  | 'disk-full'
  | 'dpkg-interrupted'
  | 'invalid-job'
  | 'timeout'
  | 'other';

export const FAILURE_REASONS: readonly FailureReason[] = [
  'dpkg-lock',
  'conffile-prompt',
  'held-packages',
  'broken-dependencies',
  'network',
  'signature',
  'disk-full',
  'dpkg-interrupted',
  'invalid-job',
  'timeout',
  'other',
];

const NAME_RE = /^[a-z0-9][a-z0-9+.-]+$/;
const ARCH_RE = /^[a-z0-9][a-z0-9-]*$/;
export const SOURCE_NAME_RE = /^[a-z0-9][a-z0-9_.-]{0,63}$/;

/** "name", "name:arch", and with `withVersion` also "name=version" / "name:arch=version". */
export function isPackageSpec(spec: string, withVersion: boolean): boolean {
  if (spec.startsWith('-') || spec.length > 512) return false;
  const eq = spec.indexOf('=');
  const nameArch = eq === -1 ? spec : spec.slice(0, eq);
  if (eq !== -1 && (!withVersion || !isStrictVersion(spec.slice(eq + 1)))) return false;
  const colon = nameArch.indexOf(':');
  const name = colon === -1 ? nameArch : nameArch.slice(0, colon);
  if (!NAME_RE.test(name)) return false;
  return colon === -1 || ARCH_RE.test(nameArch.slice(colon + 1));
}

/** agent.exposures: the CVEs the server finds this machine exposed to (issue 17), for its status line. */
export interface AgentExposures {
  /** false: the server cannot tell yet (no report, sources it cannot see, a view not indexed) */
  known: boolean;
  /** issues the machine is exposed to */
  total: number;
  /** issues per urgency (critical, high, medium, low, unimportant, unknown) */
  byUrgency: Record<string, number>;
  /** the most urgent first, at most 20 */
  cves: Array<{ cve: string; urgency: string; source: string; installed: string; fixed: string; status: string }>;
}

// ---- sites (issue 18): a site cache under the central server, over the same /RPC2 ----

/** A site's name: lower-case letters, digits, _ . - (the central server's `aptgate sites` names it). */
export const SITE_NAME_RE = /^[a-z0-9][a-z0-9_.-]{0,62}$/;

/** site.register: {token, name, url} → this. The secret signs every later call of the site. */
export interface SiteRegistered {
  site: number;
  name: string;
  secret: string;
}

/** A site's preload of the .debs its machines will install (issue 18 part C). */
export interface SitePreload {
  filesDone: number;
  filesTotal: number;
  bytesDone: number;
  bytesTotal: number;
}

/**
 * site.report (signed by the site): its counters since its process started (`started`, ms since
 * the epoch; the central server adds them up across the site's restarts), its health and preload.
 */
export interface SiteReport {
  started: number;
  bytesLocal: number;
  bytesParent: number;
  hits: number;
  misses: number;
  health: 'ok' | 'degraded';
  /** why degraded ('' when ok) */
  reason: string;
  preload: SitePreload;
}
