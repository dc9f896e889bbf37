// A secret shown once (an enrolment, site or API token): only its hash is kept on the server, so
// the page says so and offers it for copying by selection (no clipboard permission is asked).
import { h } from '../dom.js';

/** `where`: where the command is run ('On a client:', 'On the site host:'). */
export function shownOnce(title, secret, command, where = 'On a client:') {
  return h(
    'div',
    { class: 'notice info', role: 'status' },
    h('strong', {}, `${title}: copy it now, it is not shown again.`),
    h('pre', { tabindex: '0' }, secret),
    command ? [h('div', {}, where), h('pre', { tabindex: '0' }, command)] : null,
  );
}
