// Tokens and pending approvals: machines waiting to be approved (or to switch to a new
// credential), enrolment tokens for agents, and API tokens for scripts.
import { get, listOf } from '../api.js';
import { EP } from '../endpoints.js';
import { h, heading, replace } from '../dom.js';
import { approvals } from './tokens-approvals.js';
import { apiTokens } from './tokens-api.js';
import { enrolTokens } from './tokens-enrol.js';

export async function render(ctx) {
  const [machines, tokens, api] = await Promise.allSettled([
    get(EP.machines, { pending: true }),
    get(EP.tokens),
    get(EP.apiTokens),
  ]);
  // a part the API refused (or that it does not offer) says why; the others are shown
  const part = (r, f) =>
    r.status === 'fulfilled'
      ? f(r.value)
      : h('p', { class: 'bad' }, `${r.reason.message}${r.reason.code ? ` (${r.reason.code})` : ''}`);
  replace(
    ctx.root,
    heading('Tokens and approvals'),
    h('h2', {}, 'Waiting for approval'),
    part(machines, (m) =>
      approvals(
        listOf(m, 'machines').filter((x) => x.status === 'pending' || x.reenrolment),
        ctx,
      ),
    ),
    h('h2', {}, 'Enrolment tokens'),
    part(tokens, (t) => enrolTokens(listOf(t, 'tokens'), ctx)),
    h('h2', {}, 'API tokens'),
    part(api, (t) => apiTokens(listOf(t, 'tokens'))),
  );
}
