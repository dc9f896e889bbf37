// Reports: the installed packages (in full, as a delta against the previous report, or only
// by hash when the server already has that set) and the rest of the machine's state. The
// packages become a shared profile; sources and architectures become the machine's view, in
// which the server's own outdated answer is cross-checked with what the machine's apt said.
import { createHash } from 'node:crypto';
import { gunzipSync } from 'node:zlib';
import { isAptgateError } from '../errors.js';
import { linesOf, packagesTextOfLines, type PackagesText } from '../index/profile-record.js';
import { parseSourcesFile } from '../index/sources.js';
import { RpcFault } from '../rpc/protocol.js';
import type { MachineRow, MachineStore } from '../state/machines.js';
import type { ProfileStore } from '../state/profiles.js';
import type { CollectedExtras } from '../rpc/wire.js';
import type { MachineFacts } from './enrolment.js';
import type { OutdatedService } from './outdated.js';
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

const MAX_TEXT = 64 * 1024 * 1024;

function gunzipBuffer(b: Buffer): Buffer {
  try {
    return gunzipSync(b, { maxOutputLength: MAX_TEXT });
  } catch {
    throw new RpcFault('INVALID_PARAMS', 'packages payload is not gzip data (or larger than 64 MiB)');
  }
}

function keyOfLine(line: string): string {
  const v = JSON.parse(line) as unknown[];
  return `${String(v[0])}:${String(v[1])}`;
}

export class ReportService {
  constructor(
    private readonly machines: MachineStore,
    private readonly profiles: ProfileStore,
    private readonly outdated: OutdatedService,
    /** maps a source URI to a backend name (proxy or remap mode), undefined when not ours */
    private readonly backendOf: (uri: string, serverHost: string | undefined) => { backend: string; stage?: string } | undefined,
  ) {}

  /** The packages text a payload stands for, checked against its hash; the stored profile id. */
  private profileOf(p: PackagesPayload): number {
    if (!/^[0-9a-f]{64}$/.test(p.hash)) throw new RpcFault('INVALID_PARAMS', 'packages.hash must be a SHA-256 in hex');
    let text: PackagesText;
    if (p.full) {
      // a set the server has already (from any machine) is that profile: the payload would add
      // nothing, exactly as a report naming only the hash
      const known = this.profiles.byHash(p.hash);
      if (known) return known.id;
      const raw = gunzipBuffer(p.full);
      text = { text: raw.toString('utf8'), hash: createHash('sha256').update(raw).digest('hex') };
    } else if (p.base !== undefined) {
      const base = this.profiles.byHash(p.base);
      if (!base) throw new RpcFault('STATE_UNKNOWN', 'the delta base is not known here: send the packages in full');
      const byKey = new Map<string, string>();
      for (const l of this.profiles.lines(base.id)) byKey.set(keyOfLine(l), l);
      for (const k of p.remove ?? []) byKey.delete(k);
      for (const l of p.upsert ? linesOf(gunzipBuffer(p.upsert).toString('utf8')) : []) {
        try {
          byKey.set(keyOfLine(l), l);
        } catch {
          throw new RpcFault('INVALID_PARAMS', 'a delta line is not a package record');
        }
      }
      text = packagesTextOfLines(byKey.values());
    } else {
      const known = this.profiles.byHash(p.hash);
      if (!known) throw new RpcFault('STATE_UNKNOWN', 'these packages are not known here: send them in full');
      return known.id;
    }
    if (text.hash !== p.hash) throw new RpcFault('STATE_MISMATCH', 'the packages do not give the announced hash');
    try {
      return this.profiles.storeText(text).id;
    } catch (err) {
      if (isAptgateError(err, 'STATUS_INVALID')) throw new RpcFault('INVALID_PARAMS', err.message);
      throw err;
    }
  }

  /** The view a machine's apt reads, as far as its sources go through backends of this server. */
  viewSpec(m: MachineRow, extras: CollectedExtras, serverHost: string | undefined): ViewSpec | undefined {
    const facts = JSON.parse(m.facts) as MachineFacts;
    const sources: ViewSource[] = [];
    const seen = new Set<string>();
    for (const f of extras.sources) {
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
            sources.push({ backend: via.backend, suite, ...(via.stage ? { stage: via.stage } : {}), ...(e.components.length ? { components: e.components } : {}) });
          }
        }
      }
    }
    if (!sources.length) return undefined;
    const preferences = extras.preferences.map((p) => p.content).join('\n\n');
    return { sources, arch: facts.architecture, foreignArchs: facts.foreignArchitectures, ...(preferences.trim() ? { preferences } : {}) };
  }

  /** `serverHost`: host[:port] the agent reached this server by (its remap-mode sources use it) */
  store(m: MachineRow, state: string, packages: PackagesPayload, extras: CollectedExtras, serverHost?: string): { profileId: number; viewId: number | null } {
    const profileId = this.profileOf(packages);
    let viewId: number | null = null;
    const spec = this.viewSpec(m, extras, serverHost);
    if (spec) {
      try {
        viewId = this.outdated.defineView(spec);
      } catch (err) {
        // a machine whose preferences apt itself would refuse still reports; it has no view
        if (!isAptgateError(err)) throw err;
      }
    }
    this.machines.setState(m.id, state, profileId, JSON.stringify(extras), viewId, null);
    return { profileId, viewId };
  }

  /** Compares the server's outdated answer with the machine's apt; undefined when no view is complete. */
  crossCheck(machineId: number): Disagreements | undefined {
    const m = this.machines.byId(machineId);
    const r = this.machines.report(machineId);
    if (!m || !r || r.viewId === null || m.profileId === null) return undefined;
    // a view still being indexed would give a list of false disagreements
    if (!this.outdated.ready(r.viewId)) return undefined;
    const answer = this.outdated.get(m.profileId, r.viewId);
    if (!answer.complete) return undefined;
    const extras = JSON.parse(r.extras) as CollectedExtras;
    const apt = new Set(extras.aptUpgradable.map((u) => `${u.package} ${u.candidate}`));
    const ours = new Set(answer.result.entries.map((e) => `${e.package} ${e.candidateVersion}`));
    const d: Disagreements = { onlyApt: [...apt].filter((x) => !ours.has(x)).sort(), onlyServer: [...ours].filter((x) => !apt.has(x)).sort(), checkedAt: Date.now() };
    this.machines.setDisagreements(machineId, JSON.stringify(d));
    return d;
  }
}
