// Building the page: elements from tag, attributes and children. Text is always set as text
// (never parsed as HTML), so whatever the API returns (host names, package names, transcripts)
// cannot become markup.

/**
 * h('a', { href: '#/x', class: 'c' }, 'text', child): an element. Attributes: `class`, `text`,
 * `on<event>` (a listener), booleans (true: present, false/null/undefined: absent), anything else as a string.
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs ?? {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'text') el.textContent = String(v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, children);
  return el;
}

/** Appends children: nodes, strings (as text), arrays of them; null/undefined/false are skipped. */
export function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

/** Replaces an element's children. */
export function replace(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

/** A link inside the console: `#/machines/3`. */
export function link(path, text, attrs = {}) {
  return h('a', { href: `#${path}`, ...attrs }, text);
}

/** A page heading that takes the focus after navigation (screen readers announce the page). */
export function heading(text) {
  return h('h1', { tabindex: '-1' }, text);
}
