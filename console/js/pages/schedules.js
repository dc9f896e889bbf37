// Schedules and maintenance windows: recurring jobs per class (cron, server local time) with
// their next run, and each class's windows (disruptive jobs wait for one). Operators add and
// remove both.
import { del, get, listOf, post } from '../api.js';
import { confirmDialog } from '../dialog.js';
import { EP } from '../endpoints.js';
import { h, heading, replace } from '../dom.js';
import { when } from '../format.js';
import { showError, showInfo } from '../notice.js';
import { dataTable } from '../table.js';
import { scheduleForm, windowForm } from './schedule-forms.js';

export async function act(ctx, dialog, run, done) {
  if (!(await confirmDialog(dialog)).ok) return;
  try {
    await run();
    await ctx.refresh();
    showInfo(done);
  } catch (err) {
    showError(err);
  }
}

export async function render(ctx) {
  const [s, c] = await Promise.all([get(EP.schedules), get(EP.classes)]);
  const schedules = listOf(s, 'schedules');
  const classes = listOf(c, 'classes');
  const operator = ctx.can('operator');
  const removeSchedule = (x) =>
    act(
      ctx,
      {
        title: `Remove schedule ${x.id}?`,
        body: `${x.kind} for class ${x.class} at "${x.cron}" stops.`,
        confirm: 'Remove',
        danger: true,
      },
      () => del(EP.schedule(x.id)),
      `Schedule ${x.id} removed.`,
    );
  const removeWindow = (cl, w) =>
    act(
      ctx,
      {
        title: `Remove window ${w.window}?`,
        body: `Class ${cl.name} loses this maintenance window.`,
        confirm: 'Remove',
        danger: true,
      },
      () => del(EP.window(w.id)),
      `Window ${w.id} removed.`,
    );
  replace(
    ctx.root,
    heading('Schedules and maintenance windows'),
    h('h2', {}, 'Schedules'),
    operator ? scheduleForm(ctx, classes, (body) => post(EP.schedules, body)) : null,
    dataTable({
      id: 'schedules',
      rows: schedules,
      params: ctx.params,
      sort: 'nextAt',
      empty: 'No schedule.',
      columns: [
        { key: 'id', label: 'Id', num: true },
        { key: 'class', label: 'Class' },
        { key: 'kind', label: 'Job' },
        { key: 'cron', label: 'When (cron)' },
        { key: 'nextAt', label: 'Next run', cell: (x) => when(x.nextAt) },
        { key: 'lastFired', label: 'Last run', cell: (x) => when(x.lastFired) },
        operator
          ? {
              key: 'remove',
              label: 'Remove',
              value: () => null,
              cell: (x) => h('button', { type: 'button', onclick: () => removeSchedule(x) }, `Remove ${x.id}`),
            }
          : null,
      ].filter(Boolean),
    }),
    h('h2', {}, 'Maintenance windows'),
    operator ? windowForm(ctx, classes, (name, window) => post(EP.classWindows(name), { window })) : null,
    h(
      'ul',
      { id: 'windows', 'aria-label': 'Maintenance windows per class' },
      classes.map((cl) =>
        h(
          'li',
          {},
          h('strong', {}, cl.name),
          ': ',
          cl.windows.length
            ? cl.windows.map((w, i) => [
                i ? ', ' : '',
                w.window,
                operator
                  ? [
                      ' ',
                      h(
                        'button',
                        {
                          type: 'button',
                          onclick: () => removeWindow(cl, w),
                          'aria-label': `Remove window ${w.window} of ${cl.name}`,
                        },
                        'remove',
                      ),
                    ]
                  : '',
              ])
            : 'any time (no window)',
        ),
      ),
    ),
  );
}
