// A site cache's parent (the central aptgate, [site] parent) as /-/health shows it: whether it
// answered the last request made to it, when it last answered, and the last error. Every
// backend of a site is fetched through the parent, so every request to one of its mirrors is a
// contact; wrong content (a bad signature, wrong bytes) is an answer with an error, not an
// unreachable parent.
import type { MirrorEvent } from './upstream.js';

export interface SiteHealth {
  parent: string;
  /** null until the parent was first asked */
  reachable: boolean | null;
  lastContact: string | null;
  lastError: { at: string; error: string; cause: string } | null;
}

export class SiteParent {
  private reachable: boolean | null = null;
  private lastContact: number | undefined;
  private lastError: { at: number; error: string; cause: string } | undefined;

  constructor(readonly url: string) {}

  /** One outcome of a request to a mirror (only the parent's count). */
  record(e: MirrorEvent, now = Date.now()): void {
    if (e.mirror !== this.url && !e.mirror.startsWith(`${this.url}/`)) return;
    this.reachable = e.answered;
    if (e.answered) this.lastContact = now;
    if (!e.ok) this.lastError = { at: now, error: (e.error ?? '').slice(0, 300), cause: e.cause ?? 'error' };
  }

  health(): SiteHealth {
    const iso = (t: number | undefined) => (t === undefined ? null : new Date(t).toISOString());
    return {
      parent: this.url,
      reachable: this.reachable,
      lastContact: iso(this.lastContact),
      lastError: this.lastError ? { ...this.lastError, at: iso(this.lastError.at)! } : null,
    };
  }
}
