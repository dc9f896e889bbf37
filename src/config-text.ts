// Settings as the administrator wrote them, read into `section.key = value` items: the
// configuration file (INI style: `[server]`, `[proxy]`, `[cache]`, `[fleet]`, `[gate]`,
// `[backend NAME]`, `key = value`, `#` or `;` comments) and APTGATE_* environment variables.
// Slips are named with where they are and what was probably meant, and every problem is
// collected, so one run shows them all. Values are checked by config.ts.
import { fail } from './errors.js';
import { closest } from './suggest.js';

/** The names config.ts knows. */
export interface ConfigSchema {
  /** the plain [sections] (besides [backend NAME]) */
  sections: readonly string[];
  /** `section.key` of the plain sections */
  settings: readonly string[];
  /** the keys of a [backend NAME] section */
  backendSettings: readonly string[];
}

export type ConfigItem =
  /** a `[backend NAME]` header: the backend exists from here on, even without settings */
  | { where: string; backend: string }
  /** `section.key` (or `backend.NAME.key`) = value */
  | { where: string; key: string; value: string };

export interface ConfigProblem {
  /** file:line; none: the message names its place */
  where?: string;
  key: string | undefined;
  message: string;
}

const section = (s: string) => (s === 'backend' ? '[backend NAME]' : `[${s}]`);

function keysOf(schema: ConfigSchema, sec: string): string[] {
  if (sec === 'backend') return [...schema.backendSettings];
  return schema.settings.filter((k) => k.startsWith(`${sec}.`)).map((k) => k.slice(sec.length + 1));
}

/** Every section (plain ones, then backend) that has a setting named `key`. */
function homesOf(schema: ConfigSchema, key: string): string[] {
  return [...schema.sections, 'backend'].filter((s) => keysOf(schema, s).includes(key));
}

/**
 * What to say about `key`, unknown in section `sec` ('server', ..., or 'backend'): the same name
 * in lower case, the section it belongs to, the nearest name in this section or another, or
 * this section's settings.
 */
export function settingHint(schema: ConfigSchema, sec: string, key: string): string {
  const lower = key.toLowerCase();
  const own = keysOf(schema, sec);
  if (own.includes(lower)) return `did you mean "${lower}"? (names are lower-case)`;
  const homes = homesOf(schema, lower).filter((s) => s !== sec);
  if (homes.length)
    return `"${lower}" is a setting of ${homes.map(section).join(' and ')}, not of ${section(sec)}: move it there`;
  const near = closest(lower, own);
  if (near) return `did you mean "${near}"?`;
  for (const other of [...schema.sections, 'backend'].filter((s) => s !== sec)) {
    const elsewhere = closest(lower, keysOf(schema, other));
    if (elsewhere) return `did you mean "${elsewhere}" of ${section(other)}?`;
  }
  return `the settings of ${section(sec)} are: ${own.join(', ')}`;
}

function sectionHint(schema: ConfigSchema, name: string, arg: string | undefined): string {
  const all = [...schema.sections, 'backend'];
  const near = all.includes(name.toLowerCase()) ? name.toLowerCase() : closest(name, all);
  const known = `sections: ${all.map(section).join(', ')}`;
  if (!near) return known;
  return near === 'backend'
    ? `did you mean [backend ${arg ?? 'NAME'}]?`
    : `did you mean [${near}]?${arg ? ` ([${near}] takes no name)` : ''}`;
}

/** The environment variable meant by an unknown APTGATE_* name, if one is near. */
export function environmentHint(schema: ConfigSchema, name: string): string | undefined {
  const upper = name.toUpperCase();
  const env = (key: string) => `APTGATE_${key.replace(/[.-]/g, '_').toUpperCase()}`;
  const candidates = schema.settings.map(env);
  const rest = upper.slice('APTGATE_'.length).toLowerCase();
  // a setting's key without its section (APTGATE_PORT)
  const bare = schema.settings.filter((k) => k.slice(k.indexOf('.') + 1) === rest);
  if (bare.length) return bare.map(env).join(' or ');
  if (rest.startsWith('backend_')) {
    // the backend's name is free: try the last one to three words as the setting
    const words = rest.slice('backend_'.length).split('_');
    for (let n = 1; n <= 3 && n < words.length; n++) {
      const named = words.slice(0, -n).join('_');
      candidates.push(...schema.backendSettings.map((k) => env(`backend_${named}_${k}`)));
    }
  }
  return closest(upper, candidates);
}

/**
 * Splits the text into settings in file order; malformed lines, unknown sections and unknown settings become problems.
 */
export function readConfigText(
  text: string,
  source: string,
  schema: ConfigSchema,
): { items: ConfigItem[]; problems: ConfigProblem[] } {
  const items: ConfigItem[] = [];
  const problems: ConfigProblem[] = [];
  // undefined: before any section; null: inside a section that was refused (its lines are not judged again)
  let current: { name: string; backend?: string } | null | undefined;
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.replace(/(^|\s)[#;].*$/, '').trim();
    if (!line) continue;
    const where = `${source}:${i + 1}`;
    const problem = (key: string | undefined, message: string) => problems.push({ where, key, message });
    const sec = /^\[\s*([^\]\s]+)(?:\s+([^\]\s]+))?\s*\]$/.exec(line);
    if (sec) {
      const [, name, arg] = sec as unknown as [string, string, string | undefined];
      current = null;
      if (name === 'backend') {
        if (!arg) problem('backend', '[backend NAME] needs a name, e.g. [backend ubuntu]');
        else {
          current = { name, backend: arg };
          items.push({ where, backend: arg });
        }
      } else if (schema.sections.includes(name) && !arg) {
        current = { name };
      } else if (schema.sections.includes(name)) {
        problem(name, `[${name}] takes no name: write [${name}]`);
      } else {
        problem(name, `unknown section [${name}${arg ? ' ' + arg : ''}]: ${sectionHint(schema, name, arg)}`);
      }
      continue;
    }
    const kv = /^([^=\s]+)\s*=\s*(.*)$/.exec(line);
    if (!kv) {
      const colon = /^([a-z_]+)\s*:\s*(.*)$/.exec(line);
      problem(
        undefined,
        colon
          ? `expected "key = value", not "key: value": write "${colon[1]} = ${colon[2]}"`
          : 'expected "key = value" or a [section]',
      );
      continue;
    }
    const [, key, value] = kv as unknown as [string, string, string];
    if (current === null) continue;
    if (current === undefined) {
      const homes = homesOf(schema, key.toLowerCase());
      problem(
        key,
        `"${key}" is outside any [section]${homes.length ? `: put it under ${homes.map(section).join(' or ')}` : ''}`,
      );
      continue;
    }
    const known = keysOf(schema, current.name).includes(key);
    const full = current.backend !== undefined ? `backend.${current.backend}.${key}` : `${current.name}.${key}`;
    if (!known) {
      problem(
        full,
        `unknown setting "${key}" in ${current.backend !== undefined ? `[backend ${current.backend}]` : `[${current.name}]`}: ${settingHint(schema, current.name, key)}`,
      );
      continue;
    }
    items.push({ where, key: full, value });
  }
  return { items, problems };
}

/**
 * Environment variables that are not settings: the file to read, the sendfile switch, the remote
 * command line's server, token and credentials file.
 */
const NOT_SETTINGS = new Set([
  'APTGATE_CONFIG',
  'APTGATE_NO_SENDFILE',
  'APTGATE_AGENT_CONFIG',
  'APTGATE_SERVER',
  'APTGATE_TOKEN',
  'APTGATE_CREDENTIALS',
]);
// variables of the agent and of the test and benchmark harnesses are not server settings
const NOT_SETTING_PREFIXES = ['APTGATE_TEST_', 'APTGATE_AGENT_', 'APTGATE_BENCH_'];

/** APTGATE_SERVER_PORT=3142, APTGATE_BACKEND_DEBIAN_SECURITY_MIRRORS=... (`_` in a backend name stands for `-`). */
export function readEnvironment(
  env: NodeJS.ProcessEnv,
  schema: ConfigSchema,
): { items: ConfigItem[]; problems: ConfigProblem[] } {
  const items: ConfigItem[] = [];
  const problems: ConfigProblem[] = [];
  for (const [name, value] of Object.entries(env)) {
    if (
      !name.startsWith('APTGATE_') ||
      value === undefined ||
      NOT_SETTINGS.has(name) ||
      NOT_SETTING_PREFIXES.some((p) => name.startsWith(p))
    )
      continue;
    const rest = name.slice('APTGATE_'.length).toLowerCase();
    const tail = rest.slice('backend_'.length);
    const backendKey = rest.startsWith('backend_')
      ? schema.backendSettings.find((k) => tail.endsWith(`_${k}`))
      : undefined;
    const sec = schema.sections.find((s) => rest.startsWith(`${s}_`));
    const key = backendKey
      ? `backend.${tail.slice(0, -backendKey.length - 1).replace(/_/g, '-')}.${backendKey}`
      : sec
        ? `${sec}.${rest.slice(sec.length + 1)}`
        : undefined;
    if (key && (backendKey || schema.settings.includes(key))) {
      items.push({ where: name, key, value });
      continue;
    }
    const hint = environmentHint(schema, name);
    problems.push({ key: key ?? name, message: `${name}: unknown setting${hint ? `: did you mean ${hint}?` : ''}` });
  }
  return { items, problems };
}

/** One CONFIG_INVALID error listing every problem, each as `file:line: message`, in line order. */
export function failWithProblems(source: string, unsorted: readonly ConfigProblem[]): never {
  const line = (p: ConfigProblem) => Number(/:(\d+)$/.exec(p.where ?? '')?.[1] ?? 0);
  const problems = [...unsorted].sort((a, b) => line(a) - line(b));
  const errors = problems.map((p) => ({ where: p.where, key: p.key, message: p.message }));
  const details = { key: problems[0]?.key, file: source, errors };
  const text = (p: ConfigProblem) => (p.where ? `${p.where}: ${p.message}` : p.message);
  if (problems.length === 1) fail('CONFIG_INVALID', text(problems[0]!), details);
  fail(
    'CONFIG_INVALID',
    `${source}: ${problems.length} errors:\n${problems.map((p) => `  ${text(p)}`).join('\n')}`,
    details,
  );
}
