// Long work on the event loop, in slices: the caller checks due() between small steps and,
// once its slice is used up, awaits next() (setImmediate: the clients' I/O runs before it
// resumes). Every client shares this loop: no slice may hold it for long.
export const SLICE_MS = 8;

export class Slicer {
  private start = performance.now();

  constructor(private readonly budgetMs = SLICE_MS) {}

  due(): boolean {
    return performance.now() - this.start >= this.budgetMs;
  }

  async next(): Promise<void> {
    await new Promise<void>((r) => setImmediate(r));
    this.start = performance.now();
  }
}
