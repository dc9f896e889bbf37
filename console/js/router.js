// Hash routes: #/machines/3?tab=jobs → { path: ['machines', '3'], params: URLSearchParams }.
// A route is a pattern ('machines/:id') and a page; the page renders into a fresh element, so a
// slow answer for a page already left lands nowhere.

export function parseHash(hash) {
  const raw = hash.startsWith('#') ? hash.slice(1) : hash;
  const [p, q = ''] = raw.split('?', 2);
  const path = p
    .split('/')
    .filter((s) => s !== '')
    .map((s) => {
      try {
        return decodeURIComponent(s);
      } catch {
        return s;
      }
    });
  return { path, params: new URLSearchParams(q) };
}

/** '#/machines?state=outdated' from a path and parameters (empty ones left out). */
export function hashOf(path, params = {}) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
  const s = q.toString();
  return `#${path}${s ? `?${s}` : ''}`;
}

/** The route whose pattern matches, with its :arguments; undefined when none does. */
export function match(routes, path) {
  for (const r of routes) {
    const parts = r.pattern.split('/').filter((s) => s !== '');
    if (parts.length !== path.length) continue;
    const args = {};
    let ok = true;
    parts.forEach((p, i) => {
      if (p.startsWith(':')) args[p.slice(1)] = path[i];
      else if (p !== path[i]) ok = false;
    });
    if (ok) return { route: r, args };
  }
  return undefined;
}

/** Changes the parameters of the current route without a new render (a table's sort, page, search). */
export function replaceParams(params) {
  const { path } = parseHash(location.hash);
  history.replaceState(null, '', hashOf(`/${path.map(encodeURIComponent).join('/')}`, params));
}
