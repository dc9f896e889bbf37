// apt's sources: deb822 .sources files and one-line .list files, read into entries the server
// can map onto its backends (sources.list(5)).
import { parseParagraphs } from './deb822.js';

export interface SourceEntry {
  types: string[];
  uris: string[];
  suites: string[];
  components: string[];
}

function words(v: string | undefined): string[] {
  return (v ?? '').split(/\s+/).filter(Boolean);
}

export function parseDeb822Sources(text: string): SourceEntry[] {
  const clean = text
    .split('\n')
    .filter((l) => !l.startsWith('#'))
    .join('\n');
  return parseParagraphs(clean)
    .filter((p) => !/^(no|false|without)$/i.test((p['enabled'] ?? 'yes').trim()))
    .map((p) => ({
      types: words(p['types']),
      uris: words(p['uris']),
      suites: words(p['suites']),
      components: words(p['components']),
    }))
    .filter((e) => e.types.length && e.uris.length && e.suites.length);
}

export function parseOneLineSources(text: string): SourceEntry[] {
  const out: SourceEntry[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.replace(/#.*/, '').trim();
    if (!line) continue;
    // deb [ options ] uri suite [component...]
    const m = /^(deb|deb-src)\s+(?:\[[^\]]*\]\s+)?(\S+)\s+(\S+)(.*)$/.exec(line);
    if (!m) continue;
    out.push({ types: [m[1]!], uris: [m[2]!], suites: [m[3]!], components: words(m[4]) });
  }
  return out;
}

/** Entries of one file by its name: *.sources are deb822, everything else one-line. */
export function parseSourcesFile(path: string, text: string): SourceEntry[] {
  return path.endsWith('.sources') ? parseDeb822Sources(text) : parseOneLineSources(text);
}
