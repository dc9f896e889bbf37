// What a report leaves behind: the profile and the view a machine used before. When no machine
// uses them any more they are deleted with what was derived from them (outdated answers, package
// records no other profile shares), in slices and between outdated refreshes, so a machine that
// reports a different set each time does not grow the database with every report.
import type { ProfileStore } from '../state/profiles.js';
import { nextTurn, TimeSlicer } from '../sys/time-slice.js';
import type { OutdatedService } from './outdated.js';

export class Retention {
  private profiles = new Set<number>();
  /** candidates someone held a pin on: tried again with the next collection */
  private later = new Set<number>();
  private views = new Set<number>();
  private running: Promise<void> | undefined;
  readonly stats = { profiles: 0, records: 0, views: 0 };

  constructor(
    private readonly store: ProfileStore,
    private readonly outdated: OutdatedService,
    private readonly onError: (err: Error) => void = () => undefined,
  ) {}

  /** A machine stopped using this profile and/or view (it reported another). */
  released(profileId: number | null | undefined, viewId: number | null | undefined): void {
    if (profileId == null && viewId == null) return;
    if (profileId != null) this.profiles.add(profileId);
    if (viewId != null) this.views.add(viewId);
    this.schedule();
  }

  /** Collects once more even without a released profile: records of an ingest that failed. */
  sweep(): void {
    this.schedule();
  }

  /** Resolves when nothing is waiting to be collected. */
  async idle(): Promise<void> {
    while (this.running) await this.running;
  }

  private schedule(): void {
    this.running ??= this.run().finally(() => {
      this.running = undefined;
    });
  }

  private async run(): Promise<void> {
    // after the report that released them was answered
    await nextTurn();
    do {
      const profiles = new Set([...this.profiles, ...this.later]);
      const views = this.views;
      this.later = new Set();
      this.profiles = new Set();
      this.views = new Set();
      try {
        await this.outdated.exclusive(async () => {
          const slicer = new TimeSlicer();
          this.stats.views += await this.outdated.pruneViews(views, slicer);
          const gone = await this.store.collect(profiles, slicer);
          for (const id of gone.pinned) this.later.add(id);
          this.outdated.forget(gone.profiles, gone.records > 0);
          this.stats.profiles += gone.profiles.length;
          this.stats.records += gone.records;
        });
      } catch (err) {
        this.onError(err as Error);
      }
    } while (this.profiles.size || this.views.size);
  }
}
