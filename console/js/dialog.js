// Confirmation before an action: a modal <dialog> (the browser keeps the focus inside it and
// Escape cancels) that says what will happen; optionally asks for a reason (required for a
// forced promotion). Resolves to { ok, reason }.
import { h } from './dom.js';

let seq = 0;

/** { title, body (text or nodes), confirm (button label), danger?, reason?: { label, required } } */
export function confirmDialog(o) {
  return new Promise((resolve) => {
    const id = `dialog-${++seq}`;
    const reason = o.reason
      ? h('textarea', { id: `${id}-reason`, rows: '3', required: o.reason.required === true, maxlength: '500' })
      : null;
    const ok = h('button', { type: 'submit', class: o.danger ? 'danger' : 'primary' }, o.confirm ?? 'Confirm');
    const cancel = h('button', { type: 'button', value: 'cancel' }, 'Cancel');
    const form = h(
      'form',
      { method: 'dialog', class: 'stack' },
      h('h2', { id: `${id}-title` }, o.title),
      h('div', { id: `${id}-body` }, o.body ?? ''),
      reason ? h('label', { for: reason.id }, o.reason.label, reason) : null,
      h('div', { class: 'actions' }, ok, cancel),
    );
    const dialog = h('dialog', { 'aria-labelledby': `${id}-title`, 'aria-describedby': `${id}-body` }, form);
    let result = { ok: false, reason: '' };
    form.addEventListener('submit', (ev) => {
      if (reason && o.reason.required && !reason.value.trim()) {
        ev.preventDefault();
        reason.focus();
        return;
      }
      result = { ok: true, reason: reason ? reason.value.trim() : '' };
    });
    cancel.addEventListener('click', () => dialog.close());
    dialog.addEventListener('close', () => {
      dialog.remove();
      resolve(result);
    });
    document.body.append(dialog);
    dialog.showModal();
    (reason ?? cancel).focus();
  });
}
