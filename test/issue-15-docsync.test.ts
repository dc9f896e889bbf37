// Issue 15: the documentation cannot fall behind the code. Every configuration setting is in the
// README and in config/aptgate.conf (and nothing there is unknown); every command of both
// programs is in the README, and every top-level command in its command-line synopsis.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { buildAgentProgram } from '../src/agent/cli.js';
import { buildProgram } from '../src/cli/program.js';
import { settingNames } from '../src/config.js';
import { projectRoot } from './helpers/paths.js';

const README = readFileSync(path.join(projectRoot, 'README.md'), 'utf8');
const CONF = readFileSync(path.join(projectRoot, 'config', 'aptgate.conf'), 'utf8');

/** config/aptgate.conf as section → the keys it shows (commented out or set). */
function confKeys(): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>();
  let section = '';
  for (const line of CONF.split('\n')) {
    const sec = /^#?\[([a-z]+)(?: [^\]]+)?\]\s*$/.exec(line);
    if (sec) {
      section = sec[1]!;
      if (!out.has(section)) out.set(section, new Set());
      continue;
    }
    const kv = /^#?([a-z_]+) =/.exec(line);
    if (kv && section) out.get(section)!.add(kv[1]!);
  }
  return out;
}

test('every setting is documented in the README and shown in config/aptgate.conf; neither names one that does not exist', () => {
  const { settings, backendSettings } = settingNames();
  const documented = [...settings, ...backendSettings.map((k) => `backend.NAME.${k}`)];
  const missing = documented.filter((k) => !README.includes(`\`${k}\``));
  assert.deepEqual(missing, [], 'settings the README does not name (as `section.key` or `backend.NAME.key`)');
  const conf = confKeys();
  const notShown = [
    ...settings.filter((k) => {
      const [s, key] = k.split('.') as [string, string];
      return !conf.get(s)?.has(key);
    }),
    ...backendSettings.filter((k) => !conf.get('backend')?.has(k)).map((k) => `backend.NAME.${k}`),
  ];
  assert.deepEqual(notShown, [], 'settings config/aptgate.conf does not show');
  // the other way round: the README's table and the file name only real settings
  const rows = [
    ...README.matchAll(/^\| `((?:server|proxy|cache|fleet|gate|admin|advisories|backend)\.[A-Za-z_.]+)`/gm),
  ].map((m) => m[1]!);
  assert.ok(rows.length > 30, 'the README has a configuration table');
  assert.deepEqual(
    rows.filter((r) => !documented.includes(r)),
    [],
    'README rows naming no setting',
  );
  const known = new Set([...settings, ...backendSettings.map((k) => `backend.${k}`)]);
  const stale = [...conf].flatMap(([s, keys]) => [...keys].map((k) => `${s}.${k}`)).filter((k) => !known.has(k));
  assert.deepEqual(stale, [], 'config/aptgate.conf keys that are no setting');
});

/** Leaf commands as their full paths ("machines list"), and the top-level names. */
function commands(program: Command): { leaves: string[]; top: string[] } {
  const leaves: string[] = [];
  const walk = (c: Command, prefix: string[]) => {
    for (const s of c.commands) {
      const p = [...prefix, s.name()];
      if (s.commands.length) walk(s, p);
      else leaves.push(p.join(' '));
    }
  };
  walk(program, []);
  return { leaves, top: program.commands.map((c) => c.name()) };
}

/** "aptgate machines list", or a table line "`aptgate classes bind ...` / `unbind NAME`". */
function documented(bin: string, leaf: string): boolean {
  if (README.includes(`${bin} ${leaf}`)) return true;
  const words = leaf.split(' ');
  if (words.length < 2) return false;
  const parent = `${bin} ${words.slice(0, -1).join(' ')} `;
  return README.split('\n').some((l) => l.includes(parent) && l.includes(`/ \`${words.at(-1)}`));
}

test('every command of aptgate and aptgate-agent is in the README, and every top-level one in the synopsis', () => {
  const synopsis = /## Command line\n+```\n([\s\S]*?)```/.exec(README)?.[1];
  assert.ok(synopsis, 'the README has a "Command line" synopsis');
  for (const [bin, program] of [
    ['aptgate', buildProgram(() => undefined)],
    ['aptgate-agent', buildAgentProgram()],
  ] as const) {
    const { leaves, top } = commands(program);
    assert.ok(leaves.length >= 5, `${bin} has commands`);
    assert.deepEqual(
      leaves.filter((l) => !documented(bin, l)),
      [],
      `${bin} commands the README does not show`,
    );
    // the words of the synopsis lines of this program, without the description after three blanks
    const words: Set<string> = new Set(
      synopsis
        .split('\n')
        .filter((l) => l.startsWith(`${bin} `))
        .flatMap((l) => l.split(/ {3,}/)[0]!.split(/[ |]+/)),
    );
    const absent: string[] = top.filter((t) => !words.has(t));
    assert.deepEqual(absent, [], `${bin} commands missing from the synopsis`);
  }
});
