// Reports: the installed packages (in full, as a delta against the previous report, or only
// by hash when the server already has that set) and the rest of the machine's state. The
// packages become a shared profile; sources and architectures become the machine's view, in
// which the server's own outdated answer is cross-checked with what the machine's apt said.
import { defaultConfig } from '../config.js';
import { fail, isAptgateError } from '../errors.js';
import type { OutdatedResult } from '../index/outdated.js';
import { parseSourcesFile } from '../index/sources.js';
import type { MachineRow, MachineStore } from '../state/machines.js';
import type { CheckedPackages, ProfileStore } from '../state/profiles.js';
import { TimeSlicer } from '../sys/time-slice.js';
import type { CollectedExtras } from '../protocol/wire.js';
import type { MachineFacts } from './enrolment.js';
import type { OutdatedService } from './outdated.js';
import { RateLimiter } from './rate-limit.js';
import { checkDelta, checkFull, gunzipLimited, type ReportLimits } from './report-payload.js';
import { Retention } from './retention.js';
import type { ViewSource, ViewSpec } from './views.js';

export interface PackagesPayload {
  hash: string;
  /** gzip of the whole packages text */
  full?: Buffer;
  /** the packages hash the delta applies to */
  base?: string;
  /** gzip of the changed and added lines */
  upsert?: Buffer;
  /** package:architecture of the removed instances */
  remove?: string[];
}

export interface Disagreements {
  /** upgradable for the machine's apt, not for the server ("name version") */
  onlyApt: string[];
  /** outdated for the server, not upgradable for the machine's apt */
  onlyServer: string[];
  checkedAt: number;
}

export interface ReportSettings extends ReportLimits {
  /** reports per machine per minute that carry packages to store (full or delta); 0: no limit */
  ratePerMinute: number;
}

/** apt sources files together, and apt preferences files together: a few KiB on a real machine */
export const MAX_APT_FILES_BYTES = 128 * 1024;
/** distinct suites of this server's backends one machine's apt reads */
export const MAX_VIEW_SOURCES = 64;

/** payloads unpacked and checked at the same time */
const UNPACKING = 2;

const shipped = defaultConfig().fleet;
/** The shipped defaults (config.ts holds them once). */
export const DEFAULT_REPORT_SETTINGS: ReportSettings = {
  maxPackages: shipped.reportMaxPackages,
  maxBytes: shipped.reportMaxBytes,
  ratePerMinute: shipped.reportRate,
};

export class ReportService {
  readonly retention: Retention;
  private readonly rate: RateLimiter;

  constructor(
    private readonly machines: MachineStore,
    private readonly profiles: ProfileStore,
    private readonly outdated: OutdatedService,
    /** maps a source URI to a backend name (proxy or remap mode), undefined when not ours */
    private readonly backendOf: (
      uri: string,
      serverHost: string | undefined,
    ) => { backend: string; stage?: string } | undefined,
    private readonly settings: ReportSettings = DEFAULT_REPORT_SETTINGS,
    onError: (err: Error) => void = () => undefined,
  ) {
    this.rate = new RateLimiter();
    this.retention = new Retention(profiles, outdated, onError);
  }

  /** The rest of a report is bounded as its packages are (parsing it is work on the event loop). */
  private checkExtras(x: CollectedExtras): void {
    const bytes = (files: ReadonlyArray<{ content: string }>) => files.reduce((n, f) => n + f.content.length, 0);
    if (bytes(x.sources) > MAX_APT_FILES_BYTES || bytes(x.preferences) > MAX_APT_FILES_BYTES) {
      fail(
        'REPORT_TOO_LARGE',
        `apt sources (or preferences) files of more than ${MAX_APT_FILES_BYTES / 1024} KiB in all`,
      );
    }
    const max = this.settings.maxPackages;
    if (x.holds.length > max || x.aptUpgradable.length > max || x.reboot.packages.length > max) {
      fail('REPORT_TOO_LARGE', `more than ${max} holds, upgradable or reboot packages (fleet.report_max_packages)`);
    }
  }

  /** A profile the server holds, pinned for the caller (ProfileStore.pin). */
  private known(hash: string): number | undefined {
    const p = this.profiles.byHash(hash);
    if (p) this.profiles.pin(p.id);
    return p?.id;
  }

  /** Reports that make the server store packages are limited per machine (fleet.report_rate). */
  private takeRate(machine: number, taken?: { rate: boolean }): void {
    if (taken?.rate) return;
    if (taken) taken.rate = true;
    const wait = this.rate.tryTake(String(machine), { count: this.settings.ratePerMinute, windowMs: 60_000 });
    if (wait !== undefined)
      fail(
        'RATE_LIMITED',
        `too many reports with packages from this machine: report again in ${wait} s (fleet.report_rate)`,
      );
  }

  /**
   * The profile a payload stands for, stored when new: checked against the limits, the announced
   * hash and the record syntax first. Returned pinned: the caller unpins it.
   */
  private async profileOf(machine: number, p: PackagesPayload, taken: { rate: boolean }): Promise<number> {
    if (!/^[0-9a-f]{64}$/.test(p.hash)) fail('RPC_INVALID_PARAMS', 'packages.hash must be a SHA-256 in hex');
    // a set the server has already (from any machine) is that profile: the payload would add
    // nothing, exactly as a report naming only the hash
    const known = this.known(p.hash);
    if (known !== undefined) return known;
    if (!p.full && p.base === undefined)
      fail('PACKAGES_UNKNOWN', 'these packages are not known here: send them in full');
    if (p.base !== undefined && !p.full && !this.profiles.byHash(p.base))
      fail('PACKAGES_UNKNOWN', 'the delta base is not known here: send the packages in full');
    this.takeRate(machine, taken);
    // reports arriving together wait with their packages still compressed: memory stays at a
    // few reports' worth, however many machines report at once
    return this.fewAtATime(async () => {
      // stored meanwhile by another report
      const now = this.known(p.hash);
      if (now !== undefined) return now;
      const slicer = new TimeSlicer();
      if (p.full) {
        const checked = await checkFull(await gunzipLimited(p.full, this.settings), p.hash, this.settings, slicer);
        return (await this.ingest(checked, slicer)).id;
      }
      const base = this.known(p.base!);
      if (base === undefined) fail('PACKAGES_UNKNOWN', 'the delta base is not known here: send the packages in full');
      try {
        const lines = await this.profiles.linesInSlices(base, slicer);
        const upsert = p.upsert ? await gunzipLimited(p.upsert, this.settings) : undefined;
        const checked = await checkDelta(lines, upsert, p.remove ?? [], p.hash, this.settings, slicer);
        return (await this.ingest(checked, slicer)).id;
      } finally {
        this.profiles.unpin(base);
      }
    });
  }

  private unpacking = 0;
  private readonly waiting: Array<() => void> = [];

  /** At most UNPACKING payloads at once (one gunzips on libuv's threads while one is checked). */
  private async fewAtATime<T>(fn: () => Promise<T>): Promise<T> {
    if (this.unpacking >= UNPACKING) await new Promise<void>((resolve) => this.waiting.push(resolve));
    this.unpacking++;
    try {
      return await fn();
    } finally {
      this.unpacking--;
      this.waiting.shift()?.();
    }
  }

  private async ingest(checked: CheckedPackages, slicer: TimeSlicer): Promise<{ id: number }> {
    try {
      return await this.profiles.ingest(checked, slicer);
    } catch (err) {
      this.retention.sweep();
      throw err;
    }
  }

  /** The view a machine's apt reads, as far as its sources go through backends of this server. */
  async viewSpec(
    m: MachineRow,
    extras: CollectedExtras,
    serverHost: string | undefined,
    slicer: TimeSlicer,
  ): Promise<ViewSpec | undefined> {
    const facts = JSON.parse(m.facts) as MachineFacts;
    const sources: ViewSource[] = [];
    const seen = new Set<string>();
    for (const f of extras.sources) {
      await slicer.tick();
      for (const e of parseSourcesFile(f.path, f.content)) {
        if (!e.types.includes('deb')) continue;
        for (const uri of e.uris) {
          const via = this.backendOf(uri, serverHost);
          if (!via) continue;
          for (const suite of e.suites) {
            if (suite.endsWith('/')) continue; // flat repositories are not indexed
            const key = `${via.stage ?? ''} ${via.backend} ${suite}`;
            if (seen.has(key)) continue;
            seen.add(key);
            sources.push({
              backend: via.backend,
              suite,
              ...(via.stage ? { stage: via.stage } : {}),
              ...(e.components.length ? { components: e.components } : {}),
            });
            if (sources.length > MAX_VIEW_SOURCES)
              fail('REPORT_TOO_LARGE', `the sources name more than ${MAX_VIEW_SOURCES} suites of this server`);
          }
        }
      }
    }
    if (!sources.length) return undefined;
    const preferences = extras.preferences.map((p) => p.content).join('\n\n');
    return {
      sources,
      arch: facts.architecture,
      foreignArchs: facts.foreignArchitectures,
      ...(preferences.trim() ? { preferences } : {}),
    };
  }

  /** `serverHost`: host[:port] the agent reached this server by (its remap-mode sources use it) */
  async store(
    m: MachineRow,
    state: string,
    packages: PackagesPayload,
    extras: CollectedExtras,
    serverHost?: string,
  ): Promise<{ profileId: number; viewId: number | null }> {
    this.checkExtras(extras);
    const taken = { rate: false };
    const profileId = await this.profileOf(m.id, packages, taken);
    try {
      let viewId: number | null = null;
      const slicer = new TimeSlicer();
      const spec = await this.viewSpec(m, extras, serverHost, slicer);
      await slicer.tick();
      if (spec) {
        // a report that moves the machine to a view not defined yet costs a view and an outdated
        // computation, whatever its packages: it counts against the same rate
        if (this.outdated.viewOf(spec) === undefined) this.takeRate(m.id, taken);
        try {
          viewId = this.outdated.defineView(spec);
        } catch (err) {
          // a machine whose preferences apt itself would refuse still reports; it has no view
          if (!isAptgateError(err)) throw err;
        }
      }
      // what the machine used until now, read just before it changes (another report of the
      // same machine may have finished meanwhile)
      const before = this.machines.byId(m.id)?.profileId ?? null;
      const viewBefore = this.machines.report(m.id)?.viewId ?? null;
      this.machines.setState(m.id, state, profileId, JSON.stringify(extras), viewId, null);
      if (before !== profileId || viewBefore !== viewId)
        this.retention.released(before !== profileId ? before : null, viewBefore !== viewId ? viewBefore : null);
      return { profileId, viewId };
    } finally {
      this.profiles.unpin(profileId);
    }
  }

  /** Compares the server's outdated answer with the machine's apt; undefined when no view is complete. */
  async crossCheck(machineId: number): Promise<Disagreements | undefined> {
    const m = this.machines.byId(machineId);
    const r = this.machines.report(machineId);
    if (!m || !r || r.viewId === null || m.profileId === null) return undefined;
    // a view still being indexed would give a list of false disagreements
    if (!this.outdated.ready(r.viewId)) return undefined;
    const profileId = m.profileId;
    this.profiles.pin(profileId);
    try {
      // the installed set is read and the answer computed in slices
      const answer = await this.outdated.getInSlices(profileId, r.viewId, new TimeSlicer());
      if (!answer.complete) return undefined;
      // the machine reported again meanwhile: that report's check follows
      if (
        this.machines.byId(machineId)?.profileId !== profileId ||
        this.machines.report(machineId)?.viewId !== r.viewId
      )
        return undefined;
      return this.disagreements(machineId, r.extras, answer.result);
    } finally {
      this.profiles.unpin(profileId);
    }
  }

  private disagreements(machineId: number, extrasJson: string, result: OutdatedResult): Disagreements {
    const extras = JSON.parse(extrasJson) as CollectedExtras;
    const apt = new Set(extras.aptUpgradable.map((u) => `${u.package} ${u.candidate}`));
    const ours = new Set(result.entries.map((e) => `${e.package} ${e.candidateVersion}`));
    const d: Disagreements = {
      onlyApt: [...apt].filter((x) => !ours.has(x)).sort(),
      onlyServer: [...ours].filter((x) => !apt.has(x)).sort(),
      checkedAt: Date.now(),
    };
    this.machines.setDisagreements(machineId, JSON.stringify(d));
    return d;
  }
}
