// Long work on the shared event loop, cut into slices: the caller asks after each small step
// whether its slice is used up and, if so, lets every waiting callback (apt clients above all)
// run before it goes on.

/** Milliseconds one slice may hold the event loop (well below the 50 ms budget). */
export const SLICE_MS = 8;

// Every sliced task of the process waits in one queue, and one of them resumes per turn of the
// loop. Each task awaiting its own setImmediate would not do: every immediate queued before the
// check phase runs in that one phase, so eight requests in slices of 8 ms held the loop 64 ms
// and more between two polls of the sockets (bench:api's "8 in flight": loop delay p99 248 ms).
const waiting: Array<() => void> = [];
let pumping = false;

function pump(): void {
  // An immediate queued while the check phase runs waits for the next turn: one slice per turn.
  waiting.shift()?.();
  if (waiting.length) setImmediate(pump);
  else pumping = false;
}

/**
 * Resolves on a later turn of the event loop, after the sockets were polled and the timers ran;
 * tasks waiting at the same time resume in order, one per turn.
 */
export const nextTurn = (): Promise<void> =>
  new Promise<void>((resolve) => {
    waiting.push(resolve);
    if (!pumping) {
      pumping = true;
      setImmediate(pump);
    }
  });

export class TimeSlicer {
  private start = performance.now();

  constructor(private readonly budgetMs = SLICE_MS) {}

  /** True when the current slice is used up (the caller then awaits `pause()`). */
  due(): boolean {
    return performance.now() - this.start >= this.budgetMs;
  }

  /** Gives the event loop one turn and starts a new slice. */
  async pause(): Promise<void> {
    await nextTurn();
    this.start = performance.now();
  }

  /** `pause()` when the slice is used up. */
  async tick(): Promise<void> {
    if (this.due()) await this.pause();
  }
}
