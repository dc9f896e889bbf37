// Queueing a job (operators): kind, targets (class names, machine ids or host names), the
// options the CLI's `aptgate jobs add` has for it; confirmed before it is sent.
import { post } from '../api.js';
import { confirmDialog } from '../dialog.js';
import { EP } from '../endpoints.js';
import { h } from '../dom.js';
import { showError, showInfo } from '../notice.js';

const KINDS = [
  'update',
  'upgrade',
  'dist-upgrade',
  'install',
  'remove',
  'hold',
  'unhold',
  'refresh',
  'reboot',
  'release-upgrade',
];

const words = (s) => s.split(/[\s,]+/).filter(Boolean);

export function newJobForm(ctx) {
  const kind = h(
    'select',
    { id: 'job-kind' },
    KINDS.map((k) => h('option', { value: k }, k)),
  );
  const to = h('input', { id: 'job-to', required: true, placeholder: 'web-servers 12 db1' });
  const packages = h('input', { id: 'job-packages', placeholder: 'for install, remove, hold, unhold' });
  const security = h('input', { id: 'job-security', type: 'checkbox' });
  const reboot = h('input', { id: 'job-reboot', type: 'checkbox' });
  const form = h(
    'form',
    { class: 'toolbar', 'aria-label': 'Queue a job' },
    h('label', { for: kind.id }, 'Kind', kind),
    h('label', { for: to.id }, 'For', to),
    h('label', { for: packages.id }, 'Packages', packages),
    h('label', { for: security.id }, security, 'security only'),
    h('label', { for: reboot.id }, reboot, 'may reboot'),
    h('button', { type: 'submit', class: 'primary' }, 'Queue job'),
  );
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const body = {
      kind: kind.value,
      to: words(to.value),
      ...(packages.value.trim() ? { packages: words(packages.value) } : {}),
      ...(security.checked ? { securityOnly: true } : {}),
      ...(reboot.checked ? { allowReboot: true } : {}),
    };
    const ok = await confirmDialog({
      title: `Queue ${body.kind}?`,
      body: `A ${body.kind} job for every machine of ${body.to.join(', ')}.`,
      confirm: 'Queue',
    });
    if (!ok.ok) return;
    try {
      const r = await post(EP.jobs, body);
      await ctx.refresh();
      showInfo(`Queued ${r.jobs.length} job(s): ${r.jobs.map((j) => `${j.id} (${j.machine.hostname})`).join(', ')}.`);
    } catch (err) {
      showError(err);
    }
  });
  return form;
}
