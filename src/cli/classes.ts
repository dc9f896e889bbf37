// `aptgate classes ...`: classes, their members, rules, windows and stages: each command runs its
// operation (ops/classes.ts) here or on --server, and prints its answer.
import { Argument, type Command } from 'commander';
import { visible } from '../term/visible.js';
import { RULE_FIELDS } from '../fleet/classes.js';
import { offer } from '../term/completion.js';
import {
  MEMBER_PAGE,
  MEMBER_PAGE_MAX,
  type ClassBinding,
  type ClassInfoJson,
  type ClassSummaryJson,
} from '../fleet/queries/classes.js';
import type { ClassRow } from '../state/classes.js';
import { opRunner, type RemoteOpts } from './call.js';
import { formatBinding, formatClass, formatClassList } from './gate-format.js';
import { idArgument, intOption, type CliShell } from './fleet-context.js';

type Json = RemoteOpts;
type Leaf = (parent: Command, spec: string, description: string) => Command;

export function registerClassCommands(program: Command, shell: CliShell, leaf: Leaf): void {
  const run = opRunner(shell);
  const done = (msg: string) => () => `${msg}\n`;

  const classes = program
    .command('classes')
    .description('classes of machines: members, match rules, stage of the release gate, maintenance windows');
  leaf(classes, 'list', 'classes with their member counts, rules, stage, windows and schedules')
    .option('--json', 'machine-readable output')
    .action((o: Json) =>
      run(o, 'classes.list', {}, (r: { classes: ClassSummaryJson[] }) => formatClassList(r.classes)),
    );
  leaf(classes, 'show', 'one class with a page of its members (in id order)')
    .argument('<name>')
    .option('--page <n>', 'the page of members', '1')
    .option('--limit <n>', `members a page (at most ${MEMBER_PAGE_MAX})`, String(MEMBER_PAGE))
    .option('--json', 'machine-readable output')
    .action((name: string, o: Json & { page: string; limit: string }) =>
      run(
        o,
        'classes.show',
        {
          name,
          page: intOption('--page', o.page, 1, Number.MAX_SAFE_INTEGER),
          limit: intOption('--limit', o.limit, 1, MEMBER_PAGE_MAX),
        },
        (c: ClassInfoJson) => formatClass(c),
      ),
    );
  leaf(classes, 'create', 'create a class')
    .argument('<name>')
    .option('--priority <n>', 'where classes disagree (the stage a machine follows), the highest priority wins', '0')
    .option('--description <text>', 'what the class is for')
    .option('--stage <stage>', 'its machines follow this stage of the release gate (as classes bind does)')
    .option('--gate', 'with --stage: its machines are test machines of that stage')
    .option('--json', 'machine-readable output')
    .action((name: string, o: Json & { priority: string; description?: string; stage?: string; gate?: boolean }) =>
      run(
        o,
        'classes.create',
        {
          name,
          priority: intOption('--priority', o.priority, -1_000_000, 1_000_000),
          ...(o.description === undefined ? {} : { description: o.description }),
          ...(o.stage === undefined ? {} : { stage: o.stage }),
          ...(o.gate === true ? { gate: true } : {}),
        },
        (c: ClassRow) =>
          `class ${c.name} created${c.stage ? `, bound to stage ${c.stage}${c.gate ? ' (gate class)' : ''}` : ''}\n`,
      ),
    );
  leaf(classes, 'bind', "bind a class to a stage: its machines get that stage's sources from their agent at check-in")
    .argument('<name>')
    .argument('<stage>', 'a stage of [gate] stages')
    .option('--gate', 'its machines are test machines of the stage (their upgrades open its gate)')
    .option('--json', 'machine-readable output')
    .action((name: string, stage: string, o: Json & { gate?: boolean }) =>
      run(o, 'classes.bind', { name, stage, ...(o.gate === true ? { gate: true } : {}) }, (b: ClassBinding) =>
        formatBinding(b),
      ),
    );
  leaf(classes, 'unbind', 'the class no longer binds its machines to a stage')
    .argument('<name>')
    .option('--json', 'machine-readable output')
    .action((name: string, o: Json) => run(o, 'classes.unbind', { name }, (b: ClassBinding) => formatBinding(b)));
  leaf(classes, 'delete', 'delete a class (its schedules and windows go with it; machines stay)')
    .argument('<name>')
    .option('--json', 'machine-readable output')
    .action((name: string, o: Json) => run(o, 'classes.delete', { name }, done(`class ${name} deleted`)));
  leaf(classes, 'add', 'add machines to a class explicitly')
    .argument('<name>')
    .argument('<machine...>', 'machine ids or hostnames')
    .option('--json', 'machine-readable output')
    .action((name: string, refs: string[], o: Json) =>
      run(
        o,
        'classes.add-members',
        { name, machines: refs },
        (r: { added: Array<{ hostname: string }> }) =>
          `${name}: added ${r.added.map((m) => visible(m.hostname)).join(', ')}\n`,
      ),
    );
  leaf(classes, 'remove', 'remove explicit members from a class')
    .argument('<name>')
    .argument('<machine...>', 'machine ids or hostnames')
    .option('--json', 'machine-readable output')
    .action((name: string, refs: string[], o: Json) =>
      run(
        o,
        'classes.remove-members',
        { name, machines: refs },
        (r: { removed: Array<{ hostname: string; removed: boolean; stillByRule: boolean }> }) =>
          r.removed
            .map(
              (m) =>
                `${name}: ${visible(m.hostname)} ${m.removed ? 'removed' : 'was not an explicit member'}${m.stillByRule ? ' (a rule of the class still matches it)' : ''}\n`,
            )
            .join(''),
      ),
    );
  leaf(classes, 'rule-add', 'machines whose FIELD matches PATTERN belong to the class')
    .argument('<name>')
    .addArgument(offer(new Argument('<field>', 'hostname, architecture or codename'), RULE_FIELDS))
    .argument('<pattern>', 'glob (web-*, [ab]?-db) or /regex/')
    .option('--json', 'machine-readable output')
    .action((name: string, field: string, pattern: string, o: Json) =>
      run(o, 'classes.add-rule', { name, field, pattern }, done(`${name}: rule ${field} ${pattern} added`)),
    );
  leaf(classes, 'rule-remove', 'remove a match rule')
    .argument('<name>')
    .argument('<field>')
    .argument('<pattern>')
    .option('--json', 'machine-readable output')
    .action((name: string, field: string, pattern: string, o: Json) =>
      run(o, 'classes.remove-rule', { name, field, pattern }, done(`${name}: rule ${field} ${pattern} removed`)),
    );
  leaf(
    classes,
    'window-add',
    "a maintenance window: disruptive jobs of the class's machines wait for one (server local time)",
  )
    .argument('<name>')
    .argument('<window>', '"mon-fri 22:00-04:00", "daily 01:00-05:00", "sat,sun 00:00-24:00"')
    .option('--json', 'machine-readable output')
    .action((name: string, text: string, o: Json) =>
      run(
        o,
        'classes.add-window',
        { name, window: text },
        (w: { id: number; window: string }) => `${name}: window ${w.id} ${w.window} added\n`,
      ),
    );
  leaf(classes, 'window-remove', 'remove a maintenance window (its id from classes list)')
    .argument('<id>')
    .option('--json', 'machine-readable output')
    .action((id: string, o: Json) =>
      run(o, 'classes.remove-window', { id: idArgument('window id', id) }, done(`window ${id} removed`)),
    );
}
