// release-upgrade on one machine (a host or a chroot): the suites of the running release in
// every sources file move to the next one (bookworm → trixie, bookworm-updates →
// trixie-updates, bookworm-security → trixie-security; aliases like "stable" are left alone),
// `apt-get update` (failing: the previous files come back), then `apt-get dist-upgrade`. The
// release gate's own aptgate.sources moves too, so the stage still decides what the machine sees.

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
