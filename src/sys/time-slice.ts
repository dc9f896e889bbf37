// Long work on the shared event loop, cut into slices: the caller asks after each small step
// whether its slice is used up and, if so, lets every waiting callback (apt clients above all)
// run before it goes on.

/** Milliseconds one slice may hold the event loop (well below the 50 ms budget). */
export const SLICE_MS = 8;

/** Lets every callback waiting on the event loop run once (setImmediate). */
export const nextTurn = (): Promise<void> => new Promise<void>((resolve) => setImmediate(resolve));

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
