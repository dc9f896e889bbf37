// The forms of the schedules page (operators): a new schedule (class, job kind, cron) and a new
// maintenance window for a class ("mon-fri 22:00-04:00", as `aptgate classes window add` takes it).
import { h } from '../dom.js';
import { showError, showInfo } from '../notice.js';

const KINDS = ['update', 'upgrade', 'dist-upgrade', 'refresh', 'reboot'];

function classSelect(id, classes) {
  return h(
    'select',
    { id, required: true },
    classes.map((c) => h('option', { value: c.name }, c.name)),
  );
}

function submitting(form, ctx, send, done) {
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    try {
      await send();
      await ctx.refresh();
      showInfo(done());
    } catch (err) {
      showError(err);
    }
  });
  return form;
}

export function scheduleForm(ctx, classes, add) {
  const cls = classSelect('sched-class', classes);
  const kind = h(
    'select',
    { id: 'sched-kind' },
    KINDS.map((k) => h('option', { value: k }, k)),
  );
  const cron = h('input', { id: 'sched-cron', required: true, placeholder: '0 3 * * 6', spellcheck: 'false' });
  const security = h('input', { id: 'sched-security', type: 'checkbox' });
  const form = h(
    'form',
    { class: 'toolbar', 'aria-label': 'Add a schedule' },
    h('label', { for: cls.id }, 'Class', cls),
    h('label', { for: kind.id }, 'Job', kind),
    h('label', { for: cron.id }, 'Cron', cron),
    h('label', { for: security.id }, security, 'security only'),
    h('button', { type: 'submit' }, 'Add schedule'),
  );
  return submitting(
    form,
    ctx,
    () =>
      add({
        class: cls.value,
        kind: kind.value,
        cron: cron.value.trim(),
        ...(security.checked ? { securityOnly: true } : {}),
      }),
    () => `Schedule added for ${cls.value}.`,
  );
}

export function windowForm(ctx, classes, add) {
  const cls = classSelect('win-class', classes);
  const text = h('input', { id: 'win-text', required: true, placeholder: 'mon-fri 22:00-04:00' });
  const form = h(
    'form',
    { class: 'toolbar', 'aria-label': 'Add a maintenance window' },
    h('label', { for: cls.id }, 'Class', cls),
    h('label', { for: text.id }, 'Window', text),
    h('button', { type: 'submit' }, 'Add window'),
  );
  return submitting(
    form,
    ctx,
    () => add(cls.value, text.value.trim()),
    () => `Window added to ${cls.value}.`,
  );
}
