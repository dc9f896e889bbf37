// release-upgrade on one machine (a host or a chroot): the suites of the running release in
// every sources file move to the next one (bookworm → trixie, bookworm-updates →
// trixie-updates, bookworm-security → trixie-security; aliases like "stable" are left alone),
// `apt-get update` (failing: the previous files come back), then `apt-get dist-upgrade`. The
// release gate's own aptgate.sources moves too, so the stage still decides what the machine sees.
import { readFile } from 'node:fs/promises';

/** A suite of release `from` renamed to release `to` ("bookworm-updates" → "trixie-updates"). */
export function renameSuite(suite: string, from: string, to: string): string {
  if (suite === from) return to;
  if (suite.startsWith(`${from}-`) || suite.startsWith(`${from}/`)) return to + suite.slice(from.length);
  return suite;
}

/** The sources text with every suite of `from` renamed (deb822 Suites fields or one-line entries). */
export function renameSuites(text: string, from: string, to: string): string {
  return text.split('\n').map((line) => {
    const f = /^(Suites:[ \t]*)(.*)$/i.exec(line);
    if (f) return f[1] + f[2]!.split(/([ \t]+)/).map((w) => (/^[ \t]*$/.test(w) ? w : renameSuite(w, from, to))).join('');
    // deb [options] uri suite components...
    const o = /^([ \t]*deb(?:-src)?[ \t]+(?:\[[^\]]*\][ \t]+)?\S+[ \t]+)(\S+)(.*)$/.exec(line);
    if (o) return o[1] + renameSuite(o[2]!, from, to) + o[3];
    return line;
  }).join('\n');
}

/** The releases of distro-info-data's CSV files, oldest first (the "series" column). */
export function releaseOrder(csv: string): string[] {
  return csv.split('\n').slice(1).map((l) => l.split(',')[2]?.trim() ?? '').filter((x) => /^[a-z][a-z0-9]*$/.test(x));
}

/**
 * Why moving from `from` to `to` is not one release step, when distro-info-data knows both
 * (undefined: it is, or nothing is known of them). Debian and Ubuntu support upgrades one
 * release at a time only.
 */
export function stepError(from: string, to: string, orders: readonly string[][]): string | undefined {
  if (from === to) return undefined;
  for (const order of orders) {
    const i = order.indexOf(from);
    const j = order.indexOf(to);
    if (i === -1 || j === -1) continue;
    if (j === i + 1) return undefined;
    return `${to} is not the release after ${from}${order[i + 1] ? ` (${order[i + 1]} is)` : ''}: upgrade one release at a time`;
  }
  return undefined;
}

/** The orders distro-info-data installs (none when it is not installed). */
export async function knownReleaseOrders(dir = '/usr/share/distro-info'): Promise<string[][]> {
  const out: string[][] = [];
  for (const f of ['debian.csv', 'ubuntu.csv']) {
    const text = await readFile(`${dir}/${f}`, 'utf8').catch(() => '');
    if (text) out.push(releaseOrder(text));
  }
  return out;
}
