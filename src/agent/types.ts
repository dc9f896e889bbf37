// What the agent's modules exchange: where apt acts, what was collected, a job's result. The
// parts that cross the wire (reports, jobs) are declared in protocol/wire.ts, shared with the server.
import type { CollectedExtras, FailureReason } from '../protocol/wire.js';

export * from '../protocol/wire.js';

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
  /**
   * An LTSP chroot (root is its directory): apt and dpkg run inside it through chroot(8), under
   * the linux32 personality for an i386 chroot on amd64. The paths above stay host paths.
   */
  chroot?: { linux32: boolean };
}

export interface CollectedState {
  /** dpkg status text (the target's status file) */
  statusText: string;
  extras: CollectedExtras;
}

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
