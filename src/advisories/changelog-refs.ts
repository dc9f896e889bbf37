// What a pending update's own changelog names: the candidate's .deb is read from the proxy's
// cache (fetched through the proxy, verified by the signed index's size and SHA256, when it is
// not there), its changelog parsed in slices, and every entry's references stored once per
// source version (state/advisories.ts changelog_refs; state/changelog-reads.ts remembers what was
// read and what failed). One .deb at a time, in the background: the queue is fed when outdated
// answers are asked for, bounded, and a failure is remembered so it is not retried on every ask.
import { AptgateError, fail } from '../errors.js';
import type { ChangelogEntry, ParsedChangelog } from '../index/changelog.js';
import type { Logger } from '../log.js';
import { AdvisoryStore } from '../state/advisories.js';
import { ChangelogReadStore, type PoolFile } from '../state/changelog-reads.js';
import type { Db } from '../state/db.js';
import { debChangelogs } from '../sys/deb-changelog.js';
import { TimeSlicer } from '../sys/time-slice.js';

/** What the service needs of an outdated entry (index/outdated.ts OutdatedEntry has it all). */
export interface PendingUpdate {
  package: string;
  candidateArchitecture: string;
  installedVersion: string;
  candidateVersion: string;
  source: string;
  sourceVersion: string;
  origins: ReadonlyArray<{ backend: string | undefined }>;
}

/** Brings a pool file into the proxy's cache (verified) and says where it is; undefined when it could not. */
export interface PoolFetcher {
  fetch(file: PoolFile): Promise<string | undefined>;
}

export interface ChangelogRefsOptions {
  /** a candidate's .deb larger than this is not fetched for its changelog (default 256 MiB) */
  maxDebBytes?: number;
  /** updates waiting at most; more are dropped until the queue drains (asked again, they are queued again) */
  maxQueue?: number;
  /** a failure that may pass (a fetch, a time limit) is tried again after this long (default 6 h) */
  retryMs?: number;
  /** cap on a decompressed changelog (default 4 MiB: the parser reads no more) */
  maxChangelogBytes?: number;
  /** dpkg-deb's time limit per .deb (default 60 s) */
  timeoutMs?: number;
  now?: () => number;
  log?: Logger;
}

interface Job {
  source: string;
  /** the read's key: the source version, or a binNMU's binary version */
  version: string;
  sourceVersion: string;
  package: string;
  arch: string;
  candidateVersion: string;
  backends: string[];
}

/** Failures that come from the verified bytes themselves: reading them again gives the same answer. */
const PERMANENT = new Set(['PARSE_FAILED', 'DECOMPRESS_FAILED', 'USAGE']);
const NAME = /^[a-z0-9][a-z0-9+.-]*$/;
/** entries written per transaction at most (the slicer may cut sooner) */
const WRITE_STEP = 200;

/** The key a candidate's changelog is read under: its source version, or its binary version for a binNMU. */
export function readKey(u: Pick<PendingUpdate, 'candidateVersion' | 'sourceVersion'>): string {
  return u.candidateVersion !== u.sourceVersion && /\+b\d+$/.test(u.candidateVersion)
    ? u.candidateVersion
    : u.sourceVersion;
}

export class ChangelogRefsService {
  readonly reads: ChangelogReadStore;
  readonly advisories: AdvisoryStore;
  readonly stats = { read: 0, failed: 0, dropped: 0 };
  private fetcher: PoolFetcher | undefined;
  private readonly queue = new Map<string, Job>();
  private running: Promise<void> | undefined;
  private closed = false;
  private readonly o: Required<Omit<ChangelogRefsOptions, 'log'>> & { log?: Logger };

  constructor(
    private readonly db: Db,
    opts: ChangelogRefsOptions = {},
  ) {
    this.reads = new ChangelogReadStore(db);
    this.advisories = new AdvisoryStore(db);
    this.o = {
      maxDebBytes: opts.maxDebBytes ?? 256 * 1024 * 1024,
      maxQueue: opts.maxQueue ?? 1000,
      retryMs: opts.retryMs ?? 6 * 3_600_000,
      maxChangelogBytes: opts.maxChangelogBytes ?? 4 * 1024 * 1024,
      timeoutMs: opts.timeoutMs ?? 60_000,
      now: opts.now ?? Date.now,
      ...(opts.log ? { log: opts.log } : {}),
    };
  }

  /** The server's proxy: without it (the command line) updates are only looked up, never read. */
  attach(fetcher: PoolFetcher): void {
    this.fetcher = fetcher;
  }

  /** the clock failures are retried by */
  now(): number {
    return this.o.now();
  }

  get reading(): boolean {
    return this.fetcher !== undefined && !this.closed;
  }

  /** Queues the updates whose changelog is neither read nor failed recently; returns how many were queued. */
  enqueue(updates: Iterable<PendingUpdate>): number {
    if (!this.reading) return 0;
    let n = 0;
    const now = this.o.now();
    for (const u of updates) {
      const version = readKey(u);
      const key = `${u.source}\0${version}`;
      if (this.queue.has(key)) continue;
      const done = this.reads.get(u.source, version);
      if (done && (done.error === null || done.retryAt === null || done.retryAt > now)) continue;
      const backends = [...new Set(u.origins.map((o) => o.backend).filter((b): b is string => b !== undefined))];
      if (!backends.length) continue; // not from a backend of this server (a local file, a stage only)
      if (this.queue.size >= this.o.maxQueue) {
        this.stats.dropped++;
        continue;
      }
      this.queue.set(key, {
        source: u.source,
        version,
        sourceVersion: u.sourceVersion,
        package: u.package,
        arch: u.candidateArchitecture,
        candidateVersion: u.candidateVersion,
        backends,
      });
      n++;
    }
    if (n && !this.running) this.running = this.drain();
    return n;
  }

  /** Resolves once the queue is empty (tests; stop). */
  async idle(): Promise<void> {
    while (this.running) await this.running;
  }

  /** Stops taking work; resolves when the read under way is over (the proxy's close aborts its fetch). */
  async close(): Promise<void> {
    this.closed = true;
    this.queue.clear();
    await this.idle();
  }

  private async drain(): Promise<void> {
    try {
      for (let next = this.first(); next && !this.closed; next = this.first()) {
        await this.readOne(next).catch((err: Error) => {
          // recording the outcome failed (the database is closing): the next ask queues it again
          this.o.log?.warn({ source: next!.source, err: err.message }, 'changelog reading not recorded');
        });
        this.queue.delete(`${next.source}\0${next.version}`);
      }
    } finally {
      this.running = undefined;
    }
  }

  private first(): Job | undefined {
    return this.queue.values().next().value;
  }

  private async readOne(job: Job): Promise<void> {
    const now = this.o.now();
    try {
      const logs = await this.changelogsOf(job);
      await this.store(job.source, logs);
      this.reads.put({ source: job.source, version: job.version, readAt: this.o.now(), error: null, retryAt: null });
      this.stats.read++;
    } catch (err) {
      // a fill aborted by the server's stop is no failure of the package's
      if (this.closed) return;
      const e = err as Error;
      const permanent = err instanceof AptgateError && PERMANENT.has(err.code);
      this.reads.put({
        source: job.source,
        version: job.version,
        readAt: now,
        error: e.message,
        retryAt: permanent ? null : now + this.o.retryMs,
      });
      this.stats.failed++;
      this.o.log?.warn(
        { source: job.source, version: job.version, package: job.package, err: e.message },
        'changelog not read',
      );
    }
  }

  /** The candidate's changelog(s): its own, or those of the package its doc directory links to. */
  private async changelogsOf(job: Job): Promise<ParsedChangelog[]> {
    const file = this.reads.poolFile(job.backends, job.package, job.candidateVersion, job.arch);
    if (!file) throw new AptgateError('NOT_FOUND', `${job.package} ${job.candidateVersion}: no index names its file`);
    const own = await this.readDeb(file, job.package, job.arch);
    if (own.logs.length) return own.logs;
    const link = own.docLink;
    if (link === null || !NAME.test(link)) fail('PARSE_FAILED', `${file.filename}: no changelog`);
    const sibling = this.reads.siblingFile(file.backend, link, job.source, job.sourceVersion, job.arch);
    if (!sibling) fail('PARSE_FAILED', `${file.filename}: its doc directory links to ${link}, which no index names`);
    const theirs = await this.readDeb(sibling, link, job.arch);
    if (!theirs.logs.length) fail('PARSE_FAILED', `${sibling.filename}: no changelog`);
    return theirs.logs;
  }

  private async readDeb(file: PoolFile, pkg: string, arch: string) {
    if (file.size > this.o.maxDebBytes)
      fail(
        'PARSE_FAILED',
        `${file.filename}: ${file.size} bytes, not read for its changelog (over ${this.o.maxDebBytes})`,
      );
    // the signed index names it; still, a name that leaves pool/ or holds control characters is not fetched
    const segments = file.filename.split('/');
    if (
      segments[0] !== 'pool' ||
      !file.filename.endsWith('.deb') ||
      segments.some((x) => x === '' || x === '.' || x === '..') ||
      /[\u0000-\u001f\u007f]/.test(file.filename)
    )
      fail('PARSE_FAILED', `not a pool file name: ${JSON.stringify(file.filename.slice(0, 200))}`);
    const at = await this.fetcher!.fetch(file);
    if (at === undefined) throw new AptgateError('UPSTREAM_FAILED', `${file.backend}/${file.filename}: not fetched`);
    return debChangelogs(at, pkg, { arch, maxBytes: this.o.maxChangelogBytes, timeoutMs: this.o.timeoutMs });
  }

  /** Every entry's references under the source, in short transactions with turns of the loop between them. */
  private async store(source: string, logs: readonly ParsedChangelog[]): Promise<void> {
    const entries: ChangelogEntry[] = logs.flatMap((l) => l.entries);
    const readAt = this.o.now();
    const slicer = new TimeSlicer();
    let i = 0;
    while (i < entries.length) {
      i = this.db.transaction(() => {
        let j = i;
        const end = Math.min(entries.length, i + WRITE_STEP);
        while (j < end) {
          const e = entries[j++]!;
          this.advisories.putChangelogRefs({
            source,
            version: e.version,
            cves: e.cves,
            closes: e.closes,
            launchpad: e.launchpad,
            readAt,
          });
          if ((j & 15) === 0 && slicer.due()) break;
        }
        return j;
      })();
      await slicer.tick();
    }
  }
}
