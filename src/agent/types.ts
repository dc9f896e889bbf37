// What the agent collects and what a job is, as the agent's modules exchange them. The wire
// form of each is documented in docs/rpc.md.

/** Where apt and dpkg act: the machine itself, or (tests, issue 6) another root. */
export interface AptTarget {
  /** "/" for the machine itself */
  root: string;
  /**
   * Extra apt options (`-o Key=Value` pairs as [key, value]) added to every apt-get/apt-cache
   * call, e.g. to direct apt at a separate root in tests, or at the proxy.
   */
  aptOptions: Array<[string, string]>;
  /** environment for apt/dpkg (APT_CONFIG etc.); merged over a clean base environment */
  env: Record<string, string>;
  /** the dpkg status file apt and dpkg use, absolute */
  statusFile: string;
  /** directory of deb822 *.sources files and of *.list files */
  sourcesDir: string;
  /** the main one-line sources.list (may not exist) */
  sourcesList: string;
  /** preferences.d directory and preferences file */
  preferencesDir: string;
  preferencesFile: string;
  /** /var/run/reboot-required and .pkgs of this target */
  rebootRequiredFile: string;
  /** extra options for every dpkg call (e.g. --root, --admindir); apt gets them via DPkg::Options */
  dpkgOptions: string[];
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
}

export interface CollectedState {
  /** dpkg status text (the target's status file) */
  statusText: string;
  extras: CollectedExtras;
}

export type JobKind = 'update' | 'upgrade' | 'dist-upgrade' | 'install' | 'remove' | 'hold' | 'unhold'
  | 'add-source' | 'remove-source' | 'refresh' | 'reboot';

export const JOB_KINDS: readonly JobKind[] = ['update', 'upgrade', 'dist-upgrade', 'install', 'remove', 'hold', 'unhold',
  'add-source', 'remove-source', 'refresh', 'reboot'];

/** Jobs that change installed software or restart the machine: they wait for a maintenance window. */
export const DISRUPTIVE_KINDS: ReadonlySet<JobKind> = new Set(['upgrade', 'dist-upgrade', 'install', 'remove', 'reboot']);

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
   * remove-source: { name: string }
   */
  params: Record<string, unknown>;
  policy: JobPolicy;
}

export type FailureReason = 'dpkg-lock' | 'conffile-prompt' | 'held-packages' | 'broken-dependencies' | 'network'
  | 'signature' | 'disk-full' | 'dpkg-interrupted' | 'invalid-job' | 'timeout' | 'other';

export const FAILURE_REASONS: readonly FailureReason[] = ['dpkg-lock', 'conffile-prompt', 'held-packages', 'broken-dependencies',
  'network', 'signature', 'disk-full', 'dpkg-interrupted', 'invalid-job', 'timeout', 'other'];

export interface JobResult {
  exitCode: number;
  durationMs: number;
  /** the last 64 KiB of what the commands printed, with the commands themselves */
  transcript: string;
  /** undefined when the job succeeded */
  failure: FailureReason | undefined;
  /** one line for people: what failed, who holds the lock, which packages are held, ... */
  summary: string;
  /** the job changed installed packages (the agent reports again afterwards) */
  changed: boolean;
  /** a reboot is required after the job */
  rebootRequired: boolean;
}
