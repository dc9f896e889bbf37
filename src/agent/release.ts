// release-upgrade on one machine (a host or a chroot): the suites of the running release in
// every sources file move to the next one (bookworm → trixie, bookworm-updates →
// trixie-updates, bookworm-security → trixie-security; aliases like "stable" are left alone),
// `apt-get update` (failing: the previous files come back), then `apt-get dist-upgrade`. The
// release gate's own aptgate.sources moves too, so the stage still decides what the machine sees.
import { readFile } from 'node:fs/promises';

/**
 * A suite of release `from` renamed to release `to` ("bookworm-updates" → "trixie-updates").
 * Debian's old security suite "buster/updates" became "bullseye-security".
 */
export function renameSuite(suite: string, from: string, to: string): string {
  if (suite === from) return to;
  if (suite === `${from}/updates`) return `${to}-security`;
  if (suite.startsWith(`${from}-`)) return to + suite.slice(from.length);
  return suite;
}

/** The sources text with every suite of `from` renamed (deb822 Suites fields or one-line entries). */
export function renameSuites(text: string, from: string, to: string): string {
  return text
    .split('\n')
    .map((line) => {
      const f = /^(Suites:[ \t]*)(.*)$/i.exec(line);
      if (f)
        return (
          f[1] +
          f[2]!
            .split(/([ \t]+)/)
            .map((w) => (/^[ \t]*$/.test(w) ? w : renameSuite(w, from, to)))
            .join('')
        );
      // deb [options] uri suite components...
      const o = /^([ \t]*deb(?:-src)?[ \t]+(?:\[[^\]]*\][ \t]+)?\S+[ \t]+)(\S+)(.*)$/.exec(line);
      if (o) return o[1] + renameSuite(o[2]!, from, to) + o[3];
      return line;
    })
    .join('\n');
}

/** Whether the sources text names a suite of release `rel` (as renameSuites would rename it). */
export function namesRelease(text: string, rel: string): boolean {
  return renameSuites(text, rel, `${rel}x`) !== text;
}

export interface Release {
  series: string;
  /** Ubuntu's long-term releases ("22.04 LTS"): they upgrade to the next LTS directly */
  lts: boolean;
}

/** The releases of distro-info-data's CSV files, oldest first (the "series" column). */
export function releaseOrder(csv: string): Release[] {
  return csv
    .split('\n')
    .slice(1)
    .map((l) => l.split(','))
    .map((f) => ({ series: f[2]?.trim() ?? '', lts: /\bLTS\b/.test(f[0] ?? '') }))
    .filter((r) => /^[a-z][a-z0-9]*$/.test(r.series));
}

/**
 * Why moving from `from` to `to` is not one supported step, when distro-info-data knows both
 * (undefined: it is, or nothing is known of them). Debian and Ubuntu upgrade one release at a
 * time; an Ubuntu LTS also to the next LTS (the releases between are gone from the archive).
 */
export function stepError(from: string, to: string, orders: readonly Release[][]): string | undefined {
  if (from === to) return undefined;
  for (const order of orders) {
    const i = order.findIndex((r) => r.series === from);
    const j = order.findIndex((r) => r.series === to);
    if (i === -1 || j === -1) continue;
    if (j === i + 1) return undefined;
    const nextLts = order.findIndex((r, k) => k > i && r.lts);
    if (order[i]!.lts && j === nextLts) return undefined;
    const after = [
      order[i + 1]?.series,
      order[i]!.lts && nextLts !== -1 && nextLts !== i + 1 ? order[nextLts]!.series : undefined,
    ]
      .filter(Boolean)
      .join(' or ');
    return `${to} is not the release after ${from}${after ? ` (${after} is)` : ''}: upgrade one release at a time`;
  }
  return undefined;
}

/** The orders distro-info-data installs (none when it is not installed). */
export async function knownReleaseOrders(dir = '/usr/share/distro-info'): Promise<Release[][]> {
  const out: Release[][] = [];
  for (const f of ['debian.csv', 'ubuntu.csv']) {
    const text = await readFile(`${dir}/${f}`, 'utf8').catch(() => '');
    if (text) out.push(releaseOrder(text));
  }
  return out;
}
