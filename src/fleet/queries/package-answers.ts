// The outdated entries of one package in the answers of many (profile, view) pairs, for
// `packages NAME`: a current cached answer is searched for that package's lines (each entry is a
// JSON line starting with its package name, fleet/outdated-text.ts) instead of being decoded
// whole; an answer that is not cached or not current is computed as machines show does.
import type { OutdatedEntry } from '../../index/outdated.js';
import { isCurrent } from '../outdated-text.js';
import type { ViewSpec } from '../views.js';
import { viewNotReady, type FleetQueryContext } from './context.js';
import { outdatedIn } from './machines.js';

export interface PackageAnswer {
  known: boolean;
  /** the package's entries by instance (name:arch), and by "=installed version" */
  byKey: Map<string, OutdatedEntry>;
}

export class PackageAnswers {
  private readonly answers = new Map<string, PackageAnswer>();
  private readonly current = new Map<number, string | undefined>();
  private readonly prefix: string;

  constructor(
    private readonly ctx: FleetQueryContext,
    private readonly name: string,
  ) {
    this.prefix = `{"package":${JSON.stringify(name)},`;
  }

  of(profileId: number, viewId: number | null): PackageAnswer {
    const key = `${profileId}/${viewId}`;
    let a = this.answers.get(key);
    if (!a) {
      a = this.answer(profileId, viewId);
      this.answers.set(key, a);
    }
    return a;
  }

  /** The snapshots a current answer in this view names; undefined when the view is not ready. */
  private currentOf(viewId: number): string | undefined {
    if (!this.current.has(viewId)) {
      const text = this.ctx.viewDefs.view(viewId);
      const ready = text !== undefined && viewNotReady(this.ctx, viewId) === undefined;
      this.current.set(viewId, ready ? this.ctx.views.currentIds(JSON.parse(text) as ViewSpec).join(',') : undefined);
    }
    return this.current.get(viewId);
  }

  private answer(profileId: number, viewId: number | null): PackageAnswer {
    const byKey = new Map<string, OutdatedEntry>();
    const add = (e: OutdatedEntry) => {
      byKey.set(e.instance, e);
      if (!byKey.has(`=${e.installedVersion}`)) byKey.set(`=${e.installedVersion}`, e);
    };
    if (viewId === null) return { known: false, byKey };
    const current = this.currentOf(viewId);
    const hit = current === undefined ? undefined : this.ctx.viewDefs.get(profileId, viewId);
    const text = hit?.result;
    // a current answer in lines (not the one-document form of old rows): only this package's lines
    if (hit && text && hit.snapshots.join(',') === current && isCurrent(text) && !text.startsWith('{"entries"')) {
      for (let at = text.indexOf(this.prefix); at !== -1; at = text.indexOf(this.prefix, at + 1)) {
        if (at > 0 && text[at - 1] !== '\n') continue;
        const end = text.indexOf('\n', at);
        add(JSON.parse(text.slice(at, end === -1 ? text.length : end)) as OutdatedEntry);
      }
      return { known: true, byKey };
    }
    const o = outdatedIn(this.ctx, profileId, viewId);
    for (const e of o.entries) if (e.package === this.name) add(e);
    return { known: o.known, byKey };
  }
}
