// Issue 14: shell completion, generated from the commander definitions. The bash scripts are
// printed by the built executables and loaded by a real bash, which completes command lines
// as it would at a prompt (COMP_WORDS/COMP_CWORD, then the completion function). What must
// complete is computed from the commander programs directly, for every command, so a command
// or option added later without completion fails here. The zsh scripts are checked for the
// same content (zsh itself is not a dependency of the tests).
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Command } from 'commander';
import { buildAgentProgram } from '../src/agent/cli.js';
import { buildProgram } from '../src/cli/program.js';
import { JOB_KINDS } from '../src/protocol/wire.js';
import { exec } from './helpers/exec.js';
import { projectRoot } from './helpers/paths.js';

const CLI = path.join(projectRoot, 'dist', 'src', 'cli', 'main.js');
const AGENT = path.join(projectRoot, 'dist', 'src', 'agent', 'main.js');

// the script, the completion function, then the words of the command line (the last one is
// the word under the cursor); prints COMPREPLY one per line
const COMPLETE =
  'source "$1" || exit 9; fn=$2; shift 2; COMP_WORDS=("$@"); COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); ' +
  '"$fn"; printf "%s\\n" "${COMPREPLY[@]}"';

let dir: string;
const scripts: Record<string, string> = {};
const text: Record<string, string> = {};

async function script(exe: string, shell: string): Promise<string> {
  const r = await exec(process.execPath, [exe, 'completion', shell]);
  assert.equal(r.code, 0, r.stderr.toString());
  assert.equal(r.stderr.toString(), '');
  return r.stdout.toString();
}

/** What bash completes for `words` (the last word is the one being completed). */
async function complete(program: 'aptgate' | 'aptgate-agent', words: string[]): Promise<string[]> {
  const fn = program === 'aptgate' ? '_aptgate' : '_aptgate_agent';
  const r = await exec(
    'bash',
    ['--norc', '--noprofile', '-c', COMPLETE, 'bash', scripts[program]!, fn, program, ...words],
    { env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', LC_ALL: 'C' } },
  );
  assert.equal(r.code, 0, r.stderr.toString());
  assert.equal(r.stderr.toString(), '', `bash said something for ${words.join(' ')}`);
  return r.stdout
    .toString()
    .split('\n')
    .filter((l) => l !== '');
}

const sorted = (a: Iterable<string>) => [...a].sort();

interface Expected {
  path: string[];
  commands: string[];
  options: string[];
  args: number;
}

/** Every command of a commander program with what completion must offer, read from commander itself. */
function expectedTree(cmd: Command, path: string[] = [], inherited: string[] = []): Expected[] {
  const own = cmd.options.flatMap((o) => [o.short, o.long]).filter((f): f is string => f !== undefined);
  const options = [...new Set([...own, '-h', '--help', ...inherited])];
  const passOn = options.filter((f) => !['-h', '--help', '-V', '--version'].includes(f));
  const commands = cmd.commands.map((c) => c.name());
  return [
    { path, commands: commands.length ? [...commands, 'help'] : [], options, args: cmd.registeredArguments.length },
    ...cmd.commands.flatMap((c) => expectedTree(c, [...path, c.name()], passOn)),
  ];
}

before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'aptgate-i14-completion-'));
  await mkdir(path.join(dir, 'conf.d'));
  await mkdir(path.join(dir, 'cache'));
  await writeFile(path.join(dir, 'conf.toml'), '');
  await writeFile(path.join(dir, 'keyring.gpg'), '');
  for (const [program, exe] of [
    ['aptgate', CLI],
    ['aptgate-agent', AGENT],
  ] as const) {
    text[program] = await script(exe, 'bash');
    scripts[program] = path.join(dir, `${program}.bash`);
    await writeFile(scripts[program]!, text[program]!);
    text[`${program}.zsh`] = await script(exe, 'zsh');
  }
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('issue 14: bash completion, in a real bash', () => {
  it('loads and registers itself for the command', async () => {
    for (const [program, fn] of [
      ['aptgate', '_aptgate'],
      ['aptgate-agent', '_aptgate_agent'],
    ] as const) {
      const r = await exec('bash', [
        '--norc',
        '--noprofile',
        '-c',
        'source "$1" && complete -p "$2"',
        'bash',
        scripts[program]!,
        program,
      ]);
      assert.equal(r.code, 0, r.stderr.toString());
      assert.equal(r.stdout.toString().trim(), `complete -F ${fn} ${program}`);
    }
  });

  it('aptgate mach → machines; aptgate machines → its subcommands; aptgate cache verify -- → its options', async () => {
    assert.deepEqual(await complete('aptgate', ['mach']), ['machines']);
    assert.deepEqual(sorted(await complete('aptgate', ['machines', ''])), [
      'approve',
      'help',
      'list',
      'outdated',
      'reject',
      'remove',
      'show',
    ]);
    const verify = await complete('aptgate', ['cache', 'verify', '--']);
    assert.deepEqual(sorted(verify), [
      '--backend',
      '--cache-dir',
      '--config',
      '--db',
      '--fix',
      '--help',
      '--json',
      '--keyring',
      '--state-dir',
    ]);
    // options of the command before the cursor, not those of another one
    assert.ok(!verify.includes('--listen') && !verify.includes('--dry-run'));
    assert.deepEqual(await complete('aptgate', ['cache', 'cl']), ['clean']);
    assert.deepEqual(await complete('aptgate', ['cache', 'clean', '--dr']), ['--dry-run']);
  });

  for (const [program, build] of [
    ['aptgate', () => buildProgram(() => undefined)],
    ['aptgate-agent', () => buildAgentProgram(() => undefined)],
  ] as const) {
    it(`${program}: every command completes exactly its subcommands and its options`, async () => {
      const nodes = expectedTree(build());
      assert.ok(nodes.length > (program === 'aptgate' ? 40 : 6), `${nodes.length} commands`);
      for (const n of nodes) {
        if (n.commands.length)
          assert.deepEqual(
            sorted(await complete(program, [...n.path, ''])),
            sorted(n.commands),
            `${program} ${n.path.join(' ')} <TAB>`,
          );
        assert.deepEqual(
          sorted(await complete(program, [...n.path, '-'])),
          sorted(n.options),
          `${program} ${n.path.join(' ')} -<TAB>`,
        );
      }
    });
  }

  it('completes the options of the command after option values and earlier arguments', async () => {
    // --config takes a value: "web" is not a command name to it, the command is still `jobs add`
    assert.deepEqual(
      await complete('aptgate', [
        'jobs',
        'add',
        '--config',
        'x.conf',
        'upgrade',
        '--to',
        'web',
        'db-1',
        '--security-o',
      ]),
      ['--security-only'],
    );
    assert.deepEqual(await complete('aptgate', ['machines', 'list', '--class', 'web', '--pen']), ['--pending']);
    // the agent's --config belongs to the program and is accepted after the subcommand too
    assert.deepEqual(sorted(await complete('aptgate-agent', ['-c', 'agent.conf', 'status', '--'])), [
      '--config',
      '--help',
      '--json',
    ]);
  });

  it('completes files, directories and NAME=FILE where a value is one', async () => {
    const files = [
      path.join(dir, 'aptgate-agent.bash'),
      path.join(dir, 'aptgate.bash'),
      path.join(dir, 'cache'),
      path.join(dir, 'conf.d'),
      path.join(dir, 'conf.toml'),
      path.join(dir, 'keyring.gpg'),
    ];
    assert.deepEqual(sorted(await complete('aptgate', ['serve', '--config', `${dir}/`])), files);
    assert.deepEqual(sorted(await complete('aptgate', ['serve', '--config', `${dir}/co`])), [
      path.join(dir, 'conf.d'),
      path.join(dir, 'conf.toml'),
    ]);
    assert.deepEqual(sorted(await complete('aptgate', ['outdated', '--status', `${dir}/k`])), [
      path.join(dir, 'keyring.gpg'),
    ]);
    // directories only
    assert.deepEqual(sorted(await complete('aptgate', ['cache', 'stats', '--cache-dir', `${dir}/`])), [
      path.join(dir, 'cache'),
      path.join(dir, 'conf.d'),
    ]);
    assert.deepEqual(sorted(await complete('aptgate', ['outdated', '--lists', `${dir}/c`])), [
      path.join(dir, 'cache'),
      path.join(dir, 'conf.d'),
    ]);
    assert.deepEqual(sorted(await complete('aptgate-agent', ['chroots', 'list', '/nonexistent', `${dir}/`])), [
      path.join(dir, 'cache'),
      path.join(dir, 'conf.d'),
    ]);
    // --config=FILE: bash splits the word at "=" (COMP_WORDBREAKS)
    assert.deepEqual(await complete('aptgate', ['serve', '--config', '=', `${dir}/conf.t`]), [
      path.join(dir, 'conf.toml'),
    ]);
    assert.deepEqual(
      await complete('aptgate', ['serve', '--config', '=']).then((r) => r.length > 0),
      true,
      'files of the working directory after --config=',
    );
    // the same without "=" among the word breaks: one word
    assert.deepEqual(await complete('aptgate', ['serve', `--config=${dir}/conf.t`]), [`--config=${dir}/conf.toml`]);
    // --keyring NAME=FILE: the file after "="; the name itself is free text
    assert.deepEqual(await complete('aptgate', ['serve', '--keyring', 'debian', '=', `${dir}/key`]), [
      path.join(dir, 'keyring.gpg'),
    ]);
    assert.deepEqual(await complete('aptgate', ['serve', '--keyring', 'deb']), []);
    // a free-text value completes nothing (and is not taken for a command)
    assert.deepEqual(await complete('aptgate', ['serve', '--listen', '']), []);
    // a file argument after the value is an argument again, not the value
    assert.deepEqual(await complete('aptgate', ['outdated', '--status', `${dir}/keyring.gpg`, '--ar']), ['--arch']);
  });

  it('completes fixed choices: completion bash|zsh, job kinds, job states, rule fields, help COMMAND', async () => {
    assert.deepEqual(await complete('aptgate', ['completion', '']), ['bash', 'zsh']);
    assert.deepEqual(await complete('aptgate-agent', ['completion', 'z']), ['zsh']);
    assert.deepEqual(await complete('aptgate', ['jobs', 'add', '']), [...JOB_KINDS]);
    assert.deepEqual(await complete('aptgate', ['jobs', 'add', 'rel']), ['release-upgrade']);
    assert.deepEqual(await complete('aptgate', ['schedules', 'add', '--kind', 'dist']), ['dist-upgrade']);
    assert.deepEqual(await complete('aptgate', ['jobs', 'list', '--state', 'f']), ['failed']);
    assert.deepEqual(await complete('aptgate', ['classes', 'rule-add', 'web', '']), [
      'hostname',
      'architecture',
      'codename',
    ]);
    // the third argument of rule-add is a pattern: nothing to offer
    assert.deepEqual(await complete('aptgate', ['classes', 'rule-add', 'web', 'hostname', '']), []);
    assert.deepEqual(await complete('aptgate', ['help', 'sch']), ['schedules']);
    assert.deepEqual(await complete('aptgate', ['cache', 'help', '']), [
      'stats',
      'history',
      'clean',
      'verify',
      'import',
    ]);
  });

  it('an unknown shell is refused with the choices, and nothing is printed on stdout', async () => {
    for (const exe of [CLI, AGENT]) {
      const r = await exec(process.execPath, [exe, 'completion', 'fish']);
      assert.notEqual(r.code, 0);
      assert.equal(r.stdout.toString(), '');
      assert.match(r.stderr.toString(), /bash, zsh/);
    }
  });
});

describe('issue 14: zsh completion', () => {
  for (const [program, build] of [
    ['aptgate', () => buildProgram(() => undefined)],
    ['aptgate-agent', () => buildAgentProgram(() => undefined)],
  ] as const) {
    it(`${program}: a #compdef script with one function per command, listing its subcommands, options and arguments`, () => {
      const z = text[`${program}.zsh`]!;
      assert.match(z, new RegExp(`^#compdef ${program}\n`));
      assert.match(z, new RegExp(`\n {2}compdef _${program} ${program}\n`));
      // quoting: every line has its single quotes paired (an escaped quote is '\'')
      for (const line of z.split('\n'))
        assert.equal((line.replace(/'\\''/g, '').match(/'/g) ?? []).length % 2, 0, line);
      const bodies = new Map([...z.matchAll(/^(_[\w-]+)\(\) \{\n([\s\S]*?)\n\}\n/gm)].map((m) => [m[1]!, m[2]!]));
      const nodes = expectedTree(build());
      for (const n of nodes) {
        const fn = [`_${program}`, ...n.path].join('__');
        const body = bodies.get(fn);
        assert.ok(body !== undefined, `no function ${fn}`);
        for (const f of n.options) assert.match(body, new RegExp(`'(?:\\([^)]*\\))?\\*?${f}[=+]?\\[`), `${fn}: ${f}`);
        for (const c of n.commands) {
          assert.match(body, new RegExp(`'${c}:`), `${fn}: ${c} listed`);
          assert.match(body, new RegExp(`\n\\s+${c}\\) ${fn}__${c} ;;`), `${fn}: ${c} dispatched`);
        }
        assert.equal((body.match(/^ {4}'(?:\*|:?):[\w-]+:/gm) ?? []).length, n.args, `${fn}: its arguments`);
      }
      assert.match(bodies.get(`_${program}__completion`)!, /':shell:\(bash zsh\)'/);
    });
  }

  it('values: _files for files, directories with -/, NAME=FILE after the "="', () => {
    const z = text['aptgate.zsh']!;
    assert.match(z, /'\(-c --config\)--config=\[configuration file[^\]]*\]:file:_files'/);
    assert.match(z, /'--cache-dir=\[cache directory[^\]]*\]:dir:_files -\/'/);
    assert.match(z, /'\*--keyring=\[[^\]]*\]:name=file:_aptgate__keyfile'/);
    assert.match(z, /_aptgate__keyfile\(\) \{\n {2}if compset -P '\*='; then _files;/);
    assert.match(text['aptgate-agent.zsh']!, /'\*:dir:_files -\/'/);
  });
});
