// Users (admins): accounts and their roles; add one (with its first password), change a role,
// remove one. Passwords are changed with `aptgate users passwd`. The API refuses the page to
// anyone else (403, shown as it is); the header has no link to it for them.
import { del, get, listOf, post, put } from '../api.js';
import { confirmDialog } from '../dialog.js';
import { EP } from '../endpoints.js';
import { h, heading, replace } from '../dom.js';
import { when } from '../format.js';
import { showError, showInfo } from '../notice.js';
import { probe, session } from '../session.js';
import { dataTable } from '../table.js';

const ROLES = ['viewer', 'operator', 'admin'];

async function attempt(ctx, run, done) {
  try {
    await run();
    await ctx.refresh();
    showInfo(done);
  } catch (err) {
    showError(err);
  }
}

function addForm(ctx) {
  const name = h('input', { id: 'user-name', required: true, autocomplete: 'off' });
  const role = h(
    'select',
    { id: 'user-role' },
    ROLES.map((r) => h('option', { value: r }, r)),
  );
  const password = h('input', {
    id: 'user-password',
    type: 'password',
    required: true,
    minlength: '10',
    autocomplete: 'new-password',
  });
  const form = h(
    'form',
    { class: 'toolbar', 'aria-label': 'Add a user' },
    h('label', { for: name.id }, 'Name', name),
    h('label', { for: role.id }, 'Role', role),
    h('label', { for: password.id }, 'Password', password),
    h('button', { type: 'submit' }, 'Add user'),
  );
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const body = { name: name.value.trim(), role: role.value, password: password.value };
    password.value = '';
    void attempt(ctx, () => post(EP.users, body), `User ${body.name} added (${body.role}).`);
  });
  return form;
}

// a select and a button (not the select's change: arrow keys would ask at every step)
function roleCell(ctx, u) {
  const sel = h(
    'select',
    { 'aria-label': `Role of ${u.name}` },
    ROLES.map((r) => h('option', { value: r, selected: r === u.role }, r)),
  );
  const set = async () => {
    const role = sel.value;
    if (role === u.role) return showInfo(`${u.name} is ${role} already.`);
    const ok = await confirmDialog({
      title: `Make ${u.name} ${role}?`,
      body: 'At once for their sessions; their API tokens are capped at the new role.',
      confirm: 'Change the role',
    });
    if (!ok.ok) {
      sel.value = u.role;
      return;
    }
    await attempt(
      ctx,
      async () => {
        await put(EP.userRole(u.name), { role });
        // one's own role: the header and the buttons follow it
        if (u.name === session()?.user) await probe();
      },
      `${u.name} is ${role} now.`,
    );
  };
  return h(
    'span',
    { class: 'inline' },
    sel,
    h('button', { type: 'button', onclick: set, 'aria-label': `Set the role of ${u.name}` }, 'Set'),
  );
}

export async function render(ctx) {
  const users = listOf(await get(EP.users), 'users');
  const remove = async (u) => {
    if (
      !(
        await confirmDialog({
          title: `Remove ${u.name}?`,
          body: 'Their sessions and API tokens end with the account.',
          confirm: 'Remove',
          danger: true,
        })
      ).ok
    )
      return;
    await attempt(ctx, () => del(EP.user(u.name)), `User ${u.name} removed.`);
  };
  const admin = ctx.can('admin');
  replace(
    ctx.root,
    heading('Users'),
    admin ? addForm(ctx) : null,
    dataTable({
      id: 'users',
      rows: users,
      params: ctx.params,
      sort: 'name',
      columns: [
        { key: 'name', label: 'Name' },
        { key: 'role', label: 'Role', cell: (u) => (admin ? roleCell(ctx, u) : u.role) },
        { key: 'createdAt', label: 'Created', cell: (u) => when(u.createdAt) },
        { key: 'updatedAt', label: 'Changed', cell: (u) => when(u.updatedAt) },
        admin
          ? {
              key: 'remove',
              label: 'Remove',
              value: () => null,
              cell: (u) => h('button', { type: 'button', onclick: () => remove(u) }, `Remove ${u.name}`),
            }
          : null,
      ].filter(Boolean),
    }),
  );
}
