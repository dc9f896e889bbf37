// What the fleet's queries read: the services assembly/services.ts builds over one database. The
// administrator's commands (cli/) and, later, the API ask the same questions through these modules
// and format the answers themselves; the answers are the JSON shapes of docs/cli-fleet.md.
import type { ChangelogRefsService } from '../../advisories/changelog-refs.js';
import type { Config } from '../../config.js';
import { fail } from '../../errors.js';
import type { Db } from '../../state/db.js';
import type { OutdatedCacheStore } from '../../state/outdated-cache.js';
import type { ProfileStore } from '../../state/profiles.js';
import type { Fleet } from '../fleet.js';
import type { OutdatedService } from '../outdated.js';
import type { ViewLoader, ViewSpec } from '../views.js';

export interface FleetQueryContext {
  config: Config;
  db: Db;
  fleet: Fleet;
  outdated: OutdatedService;
  profiles: ProfileStore;
  views: ViewLoader;
  viewDefs: OutdatedCacheStore;
  now: () => number;
  /** pending updates' changelog references (issue 17); absent: the answers say `pending` */
  changelogRefs?: ChangelogRefsService;
}

/** Epoch milliseconds → ISO 8601 (null stays null): every time in the answers. */
export function iso(ms: number | null | undefined): string | null {
  return ms === null || ms === undefined ? null : new Date(ms).toISOString();
}

/** Free text for notes and descriptions: one line, printable, bounded (USAGE names the option). */
export function oneLine(option: string, value: string, max = 200): string {
  if (value.length > max || /[\u0000-\u001f\u007f]/.test(value))
    fail('USAGE', `${option}: at most ${max} printable characters on one line`);
  return value;
}

/**
 * Why the server cannot answer "outdated" in this view yet (undefined when it can): a source
 * without a snapshot, or a snapshot whose Packages for the machine's architecture are not
 * indexed. Mirrors ViewLoader.load's notion of a complete view without loading the view.
 */
export function viewNotReady(ctx: FleetQueryContext, viewId: number): string | undefined {
  const text = ctx.viewDefs.view(viewId);
  if (text === undefined) return `view ${viewId} is unknown`;
  return ctx.views.notReady(JSON.parse(text) as ViewSpec);
}
