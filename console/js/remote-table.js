// A table whose rows the server filters, sorts and pages (a list of 20,000 machines never comes
// to the browser whole): search, filters, sort buttons and pages ask the API again; their state
// lives in the hash's parameters (a filtered list is a link, the back button returns to it).
// An answer that arrives after a newer question was asked is dropped.
import { h, replace } from './dom.js';
import { showError } from './notice.js';
import { replaceParams } from './router.js';

/**
 * columns: [{ key, label, sort? (the API's sort name), cell(row), num? }]; params (URLSearchParams);
 * filters: [{ name, label, options: [[value, label]] }]; search: { name, label };
 * search false: none (the API takes no search);
 * load({ ...filters, q, sort, dir, page, limit }) → { rows, total }; pageSize; caption; empty; keep
 * (more parameters that stay in the link, e.g. unseen).
 */
export function remoteTable(o) {
  const p = o.params ?? new URLSearchParams();
  const filters = o.filters ?? [];
  const search = o.search === false ? null : (o.search ?? { name: 'q', label: 'Search' });
  const pageSize = o.pageSize ?? 50;
  const state = {
    q: search ? (p.get(search.name) ?? '') : '',
    sort: p.get('sort') ?? o.sort ?? '',
    dir: p.get('dir') === 'desc' ? 'desc' : 'asc',
    page: Math.max(1, Number(p.get('page')) || 1),
    f: Object.fromEntries(filters.map((f) => [f.name, p.get(f.name) ?? ''])),
  };
  const tbody = h('tbody');
  const pager = h('div', { class: 'pager' });
  const status = h('p', { class: 'sr-only', role: 'status', 'aria-live': 'polite' });
  const headers = o.columns.map((c) =>
    h(
      'th',
      { scope: 'col', class: c.num ? 'num' : undefined },
      c.sort ? h('button', { type: 'button', onclick: () => sortBy(c.sort) }, c.label) : c.label,
    ),
  );
  let asked = 0;

  function params() {
    return {
      ...(o.keep ?? {}),
      ...(search ? { [search.name]: state.q.trim() } : {}),
      ...state.f,
      // the default order stays out of the link
      sort: state.sort === (o.sort ?? '') ? '' : state.sort,
      dir: state.dir === 'desc' ? 'desc' : '',
      page: state.page > 1 ? state.page : '',
    };
  }

  function draw(rows, total) {
    const pages = Math.max(1, Math.ceil(total / pageSize));
    headers.forEach((th, i) =>
      o.columns[i].sort && o.columns[i].sort === (state.sort || o.sort)
        ? th.setAttribute('aria-sort', state.dir === 'desc' ? 'descending' : 'ascending')
        : th.removeAttribute('aria-sort'),
    );
    replace(
      tbody,
      rows.length
        ? rows.map((r) =>
            h('tr', {}, ...o.columns.map((c) => h('td', { class: c.num ? 'num' : undefined }, c.cell(r) ?? '—'))),
          )
        : h('tr', {}, h('td', { colspan: String(o.columns.length), class: 'muted' }, o.empty ?? 'Nothing to show.')),
    );
    const first = rows.length ? (state.page - 1) * pageSize + 1 : 0;
    const last = first + rows.length - (rows.length ? 1 : 0);
    replace(
      pager,
      h('button', { type: 'button', disabled: state.page <= 1, onclick: () => go(state.page - 1) }, 'Previous'),
      h('span', { class: 'range' }, `${first}–${last} of ${total} (page ${state.page} of ${pages})`),
      h('button', { type: 'button', disabled: state.page >= pages, onclick: () => go(state.page + 1) }, 'Next'),
    );
    status.textContent = `${total} rows`;
  }

  async function update() {
    const n = ++asked;
    replaceParams(params());
    // the API gets the sort even when it is the default (the link leaves it out)
    const q = { ...params(), sort: state.sort, page: state.page, limit: pageSize };
    try {
      const { rows, total } = await o.load(q);
      if (n !== asked) return;
      // a page beyond the end (fewer rows now): the last one
      const pages = Math.max(1, Math.ceil(total / pageSize));
      if (state.page > pages) {
        state.page = pages;
        return update();
      }
      draw(rows, total);
    } catch (err) {
      if (n !== asked) return;
      replace(
        tbody,
        h(
          'tr',
          {},
          h('td', { colspan: String(o.columns.length), class: 'bad' }, `${err.message} (${err.code ?? 'error'})`),
        ),
      );
      showError(err);
    }
  }

  function sortBy(key) {
    state.dir = (state.sort || o.sort) === key && state.dir === 'asc' ? 'desc' : 'asc';
    state.sort = key;
    void update();
  }

  function go(page) {
    state.page = page;
    void update();
  }

  const input = h('input', { type: 'search', value: state.q, id: `${o.id}-q` });
  let timer = null;
  input.addEventListener('input', () => {
    clearTimeout(timer);
    // one request when the typing pauses, not one per key
    timer = setTimeout(() => {
      state.q = input.value;
      state.page = 1;
      void update();
    }, 250);
  });
  const toolbar = h(
    'div',
    { class: 'toolbar' },
    search ? h('label', { for: input.id }, search.label, input) : null,
    ...filters.map((f) => {
      const sel = h(
        'select',
        { id: `${o.id}-${f.name}` },
        h('option', { value: '' }, 'all'),
        ...f.options.map(([v, label]) => h('option', { value: v, selected: state.f[f.name] === v }, label)),
      );
      sel.addEventListener('change', () => {
        state.f[f.name] = sel.value;
        state.page = 1;
        void update();
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
  return { el: h('div', { class: 'data-table' }, toolbar, table, pager, status), ready: update() };
}
