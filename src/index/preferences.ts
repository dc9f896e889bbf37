// apt_preferences(5) as apt 2.6 reads it (apt-pkg/policy.cc ReadPinFile, versionmatch.cc).
import { fail } from '../errors.js';
import { Deb822Parser, type Paragraph } from './deb822.js';

/** `Pin-Priority: never` (only for `Package: *`) */
export const NEVER_PIN = -32768;

export interface ReleaseSpec {
  matchAll: boolean;
  /** v= (or a bare value starting with a digit); prefix match when it ended in '*' */
  version?: string;
  versionPrefix?: boolean;
  origin?: string;
  archive?: string;
  codename?: string;
  /** a bare value: archive or codename */
  release?: string;
  label?: string;
  component?: string;
  architecture?: string;
}

export type PinMatch =
  | { type: 'version'; version: string; prefix: boolean }
  | { type: 'release'; spec: ReleaseSpec }
  | { type: 'origin'; site: string };

export interface Pin {
  /** null for `Package: *` (a default pin on package files) */
  names: string[] | null;
  match: PinMatch;
  /** the text after the pin type, for display */
  data: string;
  priority: number;
}

export interface Preferences {
  pins: Pin[];
  /** what apt would only warn about (an unknown pin type) */
  warnings: string[];
}

function releaseSpec(data: string): ReleaseSpec {
  const spec: ReleaseSpec = { matchAll: false };
  if (data === '*') return { matchAll: true };
  if (!data.includes('=')) {
    if (/^[0-9]/.test(data)) spec.version = data;
    else spec.release = data;
  } else {
    for (const raw of data.split(',')) {
      const frag = raw.trim();
      if (frag.length < 3 || frag[1] !== '=') continue;
      const v = frag.slice(2);
      switch (frag[0]!.toLowerCase()) {
        case 'v':
          spec.version = v;
          break;
        case 'o':
          spec.origin = v;
          break;
        case 'a':
          spec.archive = v;
          break;
        case 'n':
          spec.codename = v;
          break;
        case 'l':
          spec.label = v;
          break;
        case 'c':
          spec.component = v;
          break;
        case 'b':
          spec.architecture = v;
          break;
      }
    }
  }
  if (spec.version?.endsWith('*')) {
    spec.version = spec.version.slice(0, -1);
    spec.versionPrefix = true;
  }
  return spec;
}

function pinMatch(type: 'version' | 'release' | 'origin', data: string): PinMatch {
  if (type === 'version') {
    return data.endsWith('*')
      ? { type, version: data.slice(0, -1), prefix: true }
      : { type, version: data, prefix: false };
  }
  if (type === 'release') return { type, spec: releaseSpec(data) };
  const site = data.length >= 2 && data.startsWith('"') && data.endsWith('"') ? data.slice(1, -1) : data;
  return { type, site };
}

function parsePriority(raw: string | undefined, where: string, generic: boolean): number {
  const s = (raw ?? '').trim();
  if (s === 'never') {
    if (!generic)
      fail('PREFERENCES_INVALID', `${where}: 'Pin-Priority: never' can only be used for 'Package: *' records`);
    return NEVER_PIN;
  }
  if (s === '') fail('PREFERENCES_INVALID', `${where}: no priority (or zero) specified for pin`);
  if (!/^[+-]?\d+$/.test(s)) fail('PREFERENCES_INVALID', `${where}: Pin-Priority "${s.slice(0, 40)}" is not a number`);
  let n = Number(s);
  if (n < -32768 || n > 32767)
    fail(
      'PREFERENCES_INVALID',
      `${where}: Pin-Priority ${s} is outside the range of valid pin priorities (-32768 to 32767)`,
    );
  if (n === 0) fail('PREFERENCES_INVALID', `${where}: no priority (or zero) specified for pin`);
  if (n === NEVER_PIN) n = NEVER_PIN + 1; // apt clamps a numeric -32768 so only 'never' is never
  return n;
}

/**
 * Parses one preferences file's text (`name` is used in messages). Several files are read in
 * order and their pins concatenated, as apt does with preferences and preferences.d/*.
 */
export function parsePreferences(text: string, name = 'preferences'): Preferences {
  const pins: Pin[] = [];
  const warnings: string[] = [];
  // apt reads preferences with comment support: a line starting with '#' is dropped anywhere
  const clean = text
    .split('\n')
    .filter((l) => !l.startsWith('#'))
    .join('\n');
  const paragraphs: Paragraph[] = [];
  const parser = new Deb822Parser((p) => paragraphs.push(p));
  parser.write(clean);
  parser.end();
  paragraphs.forEach((p, i) => {
    const where = `${name}, record ${i + 1}`;
    const pkg = p['package'];
    if (!pkg) fail('PREFERENCES_INVALID', `${where}: invalid record, no Package header`);
    const pinText = p['pin'];
    if (pinText === undefined) return;
    const t = pinText.trim();
    const sp = t.search(/\s/);
    const word = (sp === -1 ? t : t.slice(0, sp)).toLowerCase();
    const data = sp === -1 ? '' : t.slice(sp).trim();
    const generic = pkg.trim() === '*';
    let type: 'version' | 'release' | 'origin';
    if (word === 'version' && !generic) type = 'version';
    else if (word === 'release') type = 'release';
    else if (word === 'origin') type = 'origin';
    else {
      warnings.push(`${where}: did not understand pin type ${word}`);
      return;
    }
    const priority = parsePriority(p['pin-priority'], where, generic);
    pins.push({ names: generic ? null : pkg.trim().split(/\s+/), match: pinMatch(type, data), data, priority });
  });
  return { pins, warnings };
}

/** apt's rule for files in preferences.d: no extension or `.pref`, only [A-Za-z0-9_.-]. */
export function isPreferencesPartName(file: string): boolean {
  if (!/^[A-Za-z0-9_.-]+$/.test(file) || file.startsWith('.')) return false;
  const dot = file.lastIndexOf('.');
  return dot === -1 || file.slice(dot) === '.pref';
}
