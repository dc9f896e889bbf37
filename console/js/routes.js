// The console's pages: hash pattern → page module (loaded when first shown), and the header's
// links. `min`: the lowest role the link is shown to (the API decides what each role may do).

export const ROUTES = [
  { pattern: 'overview', load: () => import('./pages/overview.js') },
  { pattern: 'machines', load: () => import('./pages/machines.js') },
  { pattern: 'machines/:id', load: () => import('./pages/machine.js') },
  { pattern: 'packages', load: () => import('./pages/packages.js') },
  { pattern: 'packages/:name', load: () => import('./pages/packages.js') },
  { pattern: 'cves', load: () => import('./pages/cves.js') },
  { pattern: 'cves/:cve', load: () => import('./pages/cve.js') },
  { pattern: 'advisories', load: () => import('./pages/advisories.js') },
  { pattern: 'gate', load: () => import('./pages/gate.js') },
  { pattern: 'gate/:stage', load: () => import('./pages/gate-history.js') },
  { pattern: 'rollouts', load: () => import('./pages/rollouts.js') },
  { pattern: 'rollouts/:id', load: () => import('./pages/rollouts.js') },
  { pattern: 'sites', load: () => import('./pages/sites.js') },
  { pattern: 'sites/:name', load: () => import('./pages/sites.js') },
  { pattern: 'jobs', load: () => import('./pages/jobs.js') },
  { pattern: 'jobs/:id', load: () => import('./pages/job.js') },
  { pattern: 'schedules', load: () => import('./pages/schedules.js') },
  { pattern: 'tokens', load: () => import('./pages/tokens.js') },
  { pattern: 'users', load: () => import('./pages/users.js') },
  { pattern: 'audit', load: () => import('./pages/audit.js') },
];

export const NAV = [
  { path: '/overview', label: 'Overview' },
  { path: '/machines', label: 'Machines' },
  { path: '/packages', label: 'Packages' },
  { path: '/cves', label: 'CVEs' },
  { path: '/gate', label: 'Release gate' },
  { path: '/jobs', label: 'Jobs' },
  { path: '/sites', label: 'Sites' },
  { path: '/schedules', label: 'Schedules' },
  { path: '/tokens', label: 'Tokens' },
  { path: '/users', label: 'Users', min: 'admin' },
  { path: '/audit', label: 'Audit log' },
];
