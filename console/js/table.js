// A data table: search, filters, sort by any column, pages; its state lives in the hash's
// parameters (q, sort, dir, page and each filter's name), so a filtered list is a link and
// the back button returns to it. Sorting uses real buttons in the headers (aria-sort says how).
import { h, replace } from './dom.js';
import { replaceParams } from './router.js';

function compare(a, b) {
  if (a === b) return 0;
  if (a === null || a === undefined) return 1;
  if (b === null || b === undefined) return -1;
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  return String(a).localeCompare(String(b), undefined, { numeric: true });
}

const valueOf = (col, row) => (col.value ? col.value(row) : row[col.key]);

/**
 * columns: [{ key, label, value?(row), cell?(row), num? }]; rows; params (URLSearchParams);
 * search?(row) → text searched; filters?: [{ name, label, options: [[value, label]], test(row, value) }];
 * pageSize; caption; empty (text when nothing matches).
 */
export function dataTable(o) {
  const p = o.params ?? new URLSearchParams();
  const filters = o.filters ?? [];
  const state = {
    q: p.get('q') ?? '',
    sort: p.get('sort') ?? o.sort ?? o.columns[0].key,
    dir: p.get('dir') === 'desc' ? 'desc' : 'asc',
    page: Math.max(1, Number(p.get('page')) || 1),
    f: Object.fromEntries(filters.map((f) => [f.name, p.get(f.name) ?? ''])),
  };
  const pageSize = o.pageSize ?? 50;
  const tbody = h('tbody');
  const pager = h('div', { class: 'pager' });
  const status = h('p', { class: 'sr-only', role: 'status', 'aria-live': 'polite' });
  const headers = o.columns.map((c) => {
    const th = h('th', { scope: 'col', class: c.num ? 'num' : undefined });
    th.append(h('button', { type: 'button', onclick: () => sortBy(c.key) }, c.label));
    return th;
  });

  function matching() {
    const q = state.q.trim().toLowerCase();
    return o.rows.filter(
      (r) =>
        (!q || (o.search ? o.search(r) : Object.values(r).join(' ')).toLowerCase().includes(q)) &&
        filters.every((f) => !state.f[f.name] || f.test(r, state.f[f.name])),
    );
  }

  function update() {
    const col = o.columns.find((c) => c.key === state.sort) ?? o.columns[0];
    const rows = matching().sort((a, b) => compare(valueOf(col, a), valueOf(col, b)) * (state.dir === 'desc' ? -1 : 1));
    const pages = Math.max(1, Math.ceil(rows.length / pageSize));
    state.page = Math.min(state.page, pages);
    const shown = rows.slice((state.page - 1) * pageSize, state.page * pageSize);
    headers.forEach((th, i) =>
      o.columns[i].key === state.sort
        ? th.setAttribute('aria-sort', state.dir === 'desc' ? 'descending' : 'ascending')
        : th.removeAttribute('aria-sort'),
    );
    replace(
      tbody,
      shown.length
        ? shown.map((r) =>
            h(
              'tr',
              {},
              ...o.columns.map((c) =>
                h('td', { class: c.num ? 'num' : undefined }, c.cell ? c.cell(r) : (valueOf(c, r) ?? '—')),
              ),
            ),
          )
        : h('tr', {}, h('td', { colspan: String(o.columns.length), class: 'muted' }, o.empty ?? 'Nothing to show.')),
    );
    const first = rows.length ? (state.page - 1) * pageSize + 1 : 0;
    const range = `${first}–${first + shown.length - (shown.length ? 1 : 0)} of ${rows.length}`;
    replace(
      pager,
      h('button', { type: 'button', disabled: state.page <= 1, onclick: () => go(state.page - 1) }, 'Previous'),
      h('span', {}, `${range} (page ${state.page} of ${pages})`),
      h('button', { type: 'button', disabled: state.page >= pages, onclick: () => go(state.page + 1) }, 'Next'),
    );
    status.textContent = `${rows.length} rows`;
    if (o.keepParams !== false)
      replaceParams({
        ...Object.fromEntries(p),
        q: state.q,
        // the defaults stay out of the link
        sort: state.sort === (o.sort ?? o.columns[0].key) ? '' : state.sort,
        dir: state.dir === 'desc' ? 'desc' : '',
        page: state.page > 1 ? state.page : '',
        ...state.f,
      });
  }

  function sortBy(key) {
    state.dir = state.sort === key && state.dir === 'asc' ? 'desc' : 'asc';
    state.sort = key;
    update();
  }

  function go(page) {
    state.page = page;
    update();
  }

  const search = h('input', { type: 'search', value: state.q, id: `${o.id ?? 'table'}-q` });
  search.addEventListener('input', () => {
    state.q = search.value;
    state.page = 1;
    update();
  });
  const toolbar = h(
    'div',
    { class: 'toolbar' },
    h('label', { for: search.id }, o.searchLabel ?? 'Search', search),
    ...filters.map((f) => {
      const sel = h(
        'select',
        { id: `${o.id ?? 'table'}-${f.name}` },
        h('option', { value: '' }, 'all'),
        ...f.options.map(([v, label]) => h('option', { value: v, selected: state.f[f.name] === v }, label)),
      );
      sel.addEventListener('change', () => {
        state.f[f.name] = sel.value;
        state.page = 1;
        update();
      });
      return h('label', { for: sel.id }, f.label, sel);
    }),
  );
  const table = h(
    'table',
    {},
    o.caption ? h('caption', { class: 'sr-only' }, o.caption) : null,
    h('thead', {}, h('tr', {}, headers)),
    tbody,
  );
  update();
  return h('div', { class: 'data-table' }, toolbar, table, pager, status);
}
