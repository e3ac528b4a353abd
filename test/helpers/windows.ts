// The upstream's own count per second, as the drills and governance tests judge it: the most
// timestamps in any sliding 1 s window [t, t + 1000), and where that window starts.

export function busiestSecond(times: readonly number[]): { count: number; at: number } {
  let best = { count: 0, at: 0 };
  for (const t of times) {
    const count = times.filter((u) => u >= t && u < t + 1000).length;
    if (count > best.count) best = { count, at: t };
  }
  return best;
}

export function mostInOneSecond(times: readonly number[]): number {
  return busiestSecond(times).count;
}
