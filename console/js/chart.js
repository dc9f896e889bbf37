// Line charts drawn as inline SVG (no chart library): time on x, values on y, one line per
// series, with a title and a text summary for screen readers. Lines take their colours from
// the style sheet (.s0, .s1), so no style attribute is needed.

const NS = 'http://www.w3.org/2000/svg';

function svg(tag, attrs = {}, text) {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  if (text !== undefined) el.textContent = text;
  return el;
}

/**
 * series: [{ label, points: [{ x: epoch ms, y: number }] }]; title; yFormat(value) → text;
 * yMax (default: the largest value); xFormat(ms) → text.
 */
export function lineChart(o) {
  const W = 600;
  const H = 200;
  const L = 56;
  const B = 22;
  const T = 8;
  const all = o.series.flatMap((s) => s.points);
  const xs = all.map((p) => p.x);
  const x0 = Math.min(...xs);
  const x1 = Math.max(...xs);
  const yMax = o.yMax ?? Math.max(1e-9, ...all.map((p) => p.y));
  const X = (x) => L + ((x - x0) / Math.max(1, x1 - x0)) * (W - L - 4);
  const Y = (y) => T + (1 - y / yMax) * (H - T - B);
  const fmtY = o.yFormat ?? String;
  const fmtX = o.xFormat ?? ((ms) => new Date(ms).toLocaleString());
  const root = svg('svg', { viewBox: `0 0 ${W} ${H}`, class: 'chart', role: 'img' });
  root.append(svg('title', {}, o.title));
  const last = o.series.map((s) => `${s.label}: ${s.points.length ? fmtY(s.points.at(-1).y) : 'no data'}`);
  root.append(svg('desc', {}, `${o.title}, ${fmtX(x0)} to ${fmtX(x1)}. Latest: ${last.join('; ')}.`));
  root.append(svg('line', { x1: L, y1: H - B, x2: W - 4, y2: H - B, class: 'axis' }));
  root.append(svg('line', { x1: L, y1: T, x2: L, y2: H - B, class: 'axis' }));
  for (const f of [0, 0.5, 1]) {
    root.append(svg('text', { x: L - 4, y: Y(yMax * f) + 3, 'text-anchor': 'end' }, fmtY(yMax * f)));
  }
  root.append(svg('text', { x: L, y: H - 6 }, fmtX(x0)));
  root.append(svg('text', { x: W - 4, y: H - 6, 'text-anchor': 'end' }, fmtX(x1)));
  o.series.forEach((s, i) => {
    if (!s.points.length) return;
    const d = s.points.map((p, j) => `${j ? 'L' : 'M'}${X(p.x).toFixed(1)},${Y(p.y).toFixed(1)}`).join(' ');
    root.append(svg('path', { d, class: `s${i % 2}` }));
  });
  return root;
}
