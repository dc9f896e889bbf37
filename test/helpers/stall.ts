// How long the event loop went without a turn: reported by tests as diagnostics (timings are
// measured in bench/, never asserted in tests).

/** The longest the event loop went without running a 1 ms interval, from now until `stop()`. */
export function stallMonitor(): { stop(): number } {
  let last = performance.now();
  let max = 0;
  const t = setInterval(() => {
    const now = performance.now();
    max = Math.max(max, now - last);
    last = now;
  }, 1);
  return {
    stop() {
      clearInterval(t);
      return Math.max(max, performance.now() - last);
    },
  };
}
