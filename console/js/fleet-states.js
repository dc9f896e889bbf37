// The states the overview shows and the machine list filters by, from a machine as
// GET /api/v1/machines lists it (`aptgate machines list --json`): the server's own definitions
// (src/fleet/queries/machine-states.ts) in the browser, with their labels. The overview's counts
// come from the server (GET /api/v1/overview; GET /api/v1/machines?state= lists the same).

export const DAY = 86_400_000;

/** Not seen for longer than this is "not seen" (the overview lets the user pick another). */
export const UNSEEN_DEFAULT = '7d';
export const UNSEEN_CHOICES = { '1d': DAY, '7d': 7 * DAY, '30d': 30 * DAY };

export const STATES = [
  { name: 'up-to-date', label: 'Up to date', test: (m) => m.outdated === 0 },
  { name: 'outdated', label: 'Outdated', test: (m) => (m.outdated ?? 0) > 0 },
  { name: 'security', label: 'Security updates pending', test: (m) => (m.security ?? 0) > 0 },
  { name: 'reboot', label: 'Reboot required', test: (m) => m.rebootRequired === true },
  {
    name: 'unseen',
    label: 'Not seen',
    test: (m, o) => !m.lastSeen || o.now - Date.parse(m.lastSeen) > (UNSEEN_CHOICES[o.unseen] ?? 7 * DAY),
  },
  { name: 'pending', label: 'Pending approval', test: (m) => m.status === 'pending' || m.reenrolment !== null },
  { name: 'clone', label: 'Clone suspected', test: (m) => m.clone !== null },
  { name: 'unknown', label: 'Not known yet', test: (m) => m.outdated === null },
];

/** Whether machine `m` is in state `name`; o: { now, unseen: '1d' | '7d' | '30d' }. */
export function inState(m, name, o) {
  const s = STATES.find((x) => x.name === name);
  return s ? s.test(m, o) : true;
}

/** { state name: how many machines } */
export function countStates(machines, o) {
  return Object.fromEntries(STATES.map((s) => [s.name, machines.filter((m) => s.test(m, o)).length]));
}
