// The states the overview counts and the machine list filters by. The server decides which
// machines are in each (GET /api/v1/overview counts them, GET /api/v1/machines?state= lists
// them, one definition for both); the console only names them.

export const UNSEEN_DEFAULT = '7d';
/** how long "not seen" is: the choices the overview offers (the API takes any duration) */
export const UNSEEN_CHOICES = { '1d': 'a day', '7d': '7 days', '30d': '30 days' };

export const STATES = [
  { name: 'up-to-date', label: 'Up to date' },
  { name: 'outdated', label: 'Outdated' },
  { name: 'security', label: 'Security updates pending' },
  { name: 'reboot', label: 'Reboot required' },
  { name: 'unseen', label: 'Not seen' },
  { name: 'pending', label: 'Pending approval' },
  { name: 'clone', label: 'Clone suspected' },
  { name: 'unknown', label: 'Not known yet' },
];
