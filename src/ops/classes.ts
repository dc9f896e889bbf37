// Operations on classes of machines (fleet/queries/classes.ts answers): the list and one class
// (viewer), creating, deleting and binding classes to a stage, explicit members, match rules and
// maintenance windows (operator). The answers are the JSON of `aptgate classes … --json`.
import { RULE_FIELDS } from '../fleet/classes.js';
import {
  addMembers,
  addRule,
  addWindow,
  bindClass,
  classRules,
  classWindows,
  createClass,
  listClasses,
  MEMBER_PAGE,
  MEMBER_PAGE_MAX,
  removeClass,
  removeMembers,
  removeRule,
  removeWindow,
  showClass,
} from '../fleet/queries/classes.js';
import { bool, int, listOf, object, op, str, strings } from './operation.js';
import { textOption } from './values.js';

const className = str('the class name: lower-case letters, digits, _ . - (at most 64)', { maxLength: 64 });
const machines = { ...strings('machine ids or host names', 1000), minItems: 1 };
// the query checks the field (one message on every edge)
const field = str(`what the rule matches: ${RULE_FIELDS.join(', ')}`, { maxLength: 40 });
const pattern = str('a glob (web-*, [ab]?-db) or /regex/', { maxLength: 128 });
const stage = str('a stage of [gate] stages', { maxLength: 64 });
const windowText = str('"mon-fri 22:00-04:00", "daily 01:00-05:00", "sat,sun 00:00-24:00" (server local time)', {
  maxLength: 200,
});

export const classOps = [
  op({
    name: 'classes.list',
    summary: 'classes with their member counts, rules, stage, windows and schedules',
    role: 'viewer',
    method: 'GET',
    path: '/classes',
    input: { properties: {} },
    output: listOf('classes', 'the classes (members counted: classes.show lists them)'),
    changes: false,
    run: async ({ fleet }) => ({ classes: await listClasses(fleet) }),
  }),
  op({
    name: 'classes.show',
    summary: 'one class as in the list, with a page of its members (in id order)',
    role: 'viewer',
    method: 'GET',
    path: '/classes/:name',
    input: {
      properties: {
        name: className,
        page: int('the page of members (default 1)', 1),
        limit: int(`members a page (default ${MEMBER_PAGE})`, 1, MEMBER_PAGE_MAX),
      },
      required: ['name'],
    },
    output: object('the class, as in classes.list, with members: [ { id, hostname } ], page, limit'),
    changes: false,
    run: ({ fleet }, i: { name: string; page?: number; limit?: number }) =>
      showClass(fleet, i.name, {
        ...(i.page === undefined ? {} : { page: i.page }),
        ...(i.limit === undefined ? {} : { limit: i.limit }),
      }),
  }),
  op({
    name: 'classes.create',
    summary: 'create a class, bound to a stage of the release gate when one is given',
    role: 'operator',
    method: 'POST',
    path: '/classes',
    input: {
      properties: {
        name: className,
        priority: int(
          'where classes disagree (the stage a machine follows), the highest wins (default 0)',
          -1_000_000,
          1_000_000,
        ),
        description: str('what the class is for (one line, at most 200 characters)', { maxLength: 400 }),
        stage: { ...stage, description: 'its machines follow this stage of the release gate' },
        gate: bool('with stage: its machines are test machines of that stage'),
      },
      required: ['name'],
    },
    output: object('the class: id, name, description, priority, createdAt, stage, gate'),
    changes: true,
    run: ({ fleet }, i: { name: string; priority?: number; description?: string; stage?: string; gate?: boolean }) =>
      createClass(fleet, i.name, {
        priority: i.priority ?? 0,
        ...(i.description === undefined ? {} : { description: textOption('--description', i.description) }),
        ...(i.stage === undefined ? {} : { stage: i.stage }),
        gate: i.gate === true,
      }),
  }),
  op({
    name: 'classes.delete',
    summary: 'delete a class (its schedules and windows go with it; machines stay)',
    role: 'operator',
    method: 'DELETE',
    path: '/classes/:name',
    input: { properties: { name: className }, required: ['name'] },
    output: object('{ deleted: name }'),
    changes: true,
    run: ({ fleet }, i: { name: string }) => removeClass(fleet, i.name),
  }),
  op({
    name: 'classes.bind',
    summary: "bind a class to a stage: its machines get that stage's sources (gate: they are its test machines)",
    role: 'operator',
    method: 'PUT',
    path: '/classes/:name/stage',
    input: {
      properties: { name: className, stage, gate: bool('its machines are test machines of the stage') },
      required: ['name', 'stage'],
    },
    output: object('{ class, stage, gate, members }'),
    changes: true,
    run: ({ fleet }, i: { name: string; stage: string; gate?: boolean }) =>
      bindClass(fleet, i.name, i.stage, i.gate === true),
  }),
  op({
    name: 'classes.unbind',
    summary: 'the class no longer binds its machines to a stage',
    role: 'operator',
    method: 'DELETE',
    path: '/classes/:name/stage',
    input: { properties: { name: className }, required: ['name'] },
    output: object('{ class, stage: null, gate: false, members }'),
    changes: true,
    run: ({ fleet }, i: { name: string }) => bindClass(fleet, i.name, null, false),
  }),
  op({
    name: 'classes.add-members',
    summary: 'add machines to a class explicitly (all of them or none)',
    role: 'operator',
    method: 'POST',
    path: '/classes/:name/members',
    input: { properties: { name: className, machines }, required: ['name', 'machines'] },
    output: object('{ class, added: [ { id, hostname } ] }'),
    changes: true,
    run: ({ fleet }, i: { name: string; machines: string[] }) => ({
      class: i.name,
      added: addMembers(fleet, i.name, i.machines),
    }),
  }),
  op({
    name: 'classes.remove-members',
    summary: 'remove explicit members from a class; says which a rule of the class still matches',
    role: 'operator',
    method: 'DELETE',
    path: '/classes/:name/members',
    input: { properties: { name: className, machines }, required: ['name', 'machines'] },
    output: object('{ class, removed: [ { id, hostname, removed, stillByRule } ] }'),
    changes: true,
    run: ({ fleet }, i: { name: string; machines: string[] }) => ({
      class: i.name,
      removed: removeMembers(fleet, i.name, i.machines),
    }),
  }),
  op({
    name: 'classes.rules',
    summary: "a class's match rules",
    role: 'viewer',
    method: 'GET',
    path: '/classes/:name/rules',
    input: { properties: { name: className }, required: ['name'] },
    output: object('{ class, rules: [ { field, pattern } ] }'),
    changes: false,
    run: ({ fleet }, i: { name: string }) => classRules(fleet, i.name),
  }),
  op({
    name: 'classes.add-rule',
    summary: 'machines whose field matches the pattern belong to the class',
    role: 'operator',
    method: 'POST',
    path: '/classes/:name/rules',
    input: { properties: { name: className, field, pattern }, required: ['name', 'field', 'pattern'] },
    output: object('{ class, field, pattern }'),
    changes: true,
    run: ({ fleet }, i: { name: string; field: string; pattern: string }) => addRule(fleet, i.name, i.field, i.pattern),
  }),
  op({
    name: 'classes.remove-rule',
    summary: 'remove a match rule',
    role: 'operator',
    method: 'DELETE',
    path: '/classes/:name/rules',
    input: {
      properties: {
        name: className,
        field: { ...str('hostname, architecture or codename', { maxLength: 40 }) },
        pattern,
      },
      required: ['name', 'field', 'pattern'],
    },
    output: object('{ class, field, pattern }'),
    changes: true,
    run: ({ fleet }, i: { name: string; field: string; pattern: string }) => {
      removeRule(fleet, i.name, i.field, i.pattern);
      return { class: i.name, field: i.field, pattern: i.pattern };
    },
  }),
  op({
    name: 'classes.windows',
    summary: "a class's maintenance windows (disruptive jobs of its machines wait for one)",
    role: 'viewer',
    method: 'GET',
    path: '/classes/:name/windows',
    input: { properties: { name: className }, required: ['name'] },
    output: object('{ class, windows: [ { id, window } ] }'),
    changes: false,
    run: ({ fleet }, i: { name: string }) => classWindows(fleet, i.name),
  }),
  op({
    name: 'classes.add-window',
    summary: 'a maintenance window for a class (server local time)',
    role: 'operator',
    method: 'POST',
    path: '/classes/:name/windows',
    input: { properties: { name: className, window: windowText }, required: ['name', 'window'] },
    output: object('{ id, class, window }'),
    changes: true,
    run: ({ fleet }, i: { name: string; window: string }) => addWindow(fleet, i.name, i.window),
  }),
  op({
    name: 'classes.remove-window',
    summary: 'remove a maintenance window (its id from classes.list)',
    role: 'operator',
    method: 'DELETE',
    path: '/windows/:id',
    input: { properties: { id: int('the window id', 1) }, required: ['id'] },
    output: object('{ removed: id }'),
    changes: true,
    run: ({ fleet }, i: { id: number }) => {
      removeWindow(fleet, i.id);
      return { removed: i.id };
    },
  }),
];
