// Operations on the site caches registered under this server (issue 18; fleet/queries/sites.ts
// answers): the list and one site (viewer); site tokens, a site's networks, classes and URL, and
// removing a site (admin: a site decides where machines fetch their packages). The answers are
// the JSON of `aptgate sites … --json`.
import { serverUrl } from '../fleet/queries/tokens.js';
import { createSiteToken, listSites, removeSite, setSite, showSite } from '../fleet/queries/sites.js';
import { listOf, object, op, str, strings } from './operation.js';
import { durationOption } from './values.js';

const siteName = str('the site name: lower-case letters, digits, _ . - (at most 63)', { maxLength: 63 });

export interface SiteSetInput {
  name: string;
  networks?: string[];
  classes?: string[];
  url?: string;
}

export const siteOps = [
  op({
    name: 'sites.list',
    summary: 'the site caches with their last contact, traffic, hit ratio, health, preload and machines',
    role: 'viewer',
    method: 'GET',
    path: '/sites',
    input: { properties: {} },
    output: listOf('sites', 'the sites, by name'),
    changes: false,
    run: async ({ services }) => ({ sites: await listSites(services.sites) }),
  }),
  op({
    name: 'sites.show',
    summary: 'one site cache as in the list',
    role: 'viewer',
    method: 'GET',
    path: '/sites/:name',
    input: { properties: { name: siteName }, required: ['name'] },
    output: object('the site, as in sites.list'),
    changes: false,
    run: ({ services }, i: { name: string }) => showSite(services.sites, i.name),
  }),
  op({
    name: 'sites.token',
    summary: 'a site enrolment token (used once), shown once, with the command to run on the site host',
    role: 'admin',
    method: 'POST',
    path: '/sites/tokens',
    input: {
      properties: {
        name: siteName,
        expires: str('valid for this long: 7d, 12h (default: no expiry)', { maxLength: 40 }),
        parent: str("this server's URL in the join command (default: http(s)://the server's host name:its port)", {
          maxLength: 300,
        }),
      },
    },
    output: object('the token, with `token` itself (shown this once), `fingerprint` and `joinCommand`'),
    changes: true,
    auditDetail: (t: { id: number; name: string | null }) => ({ tokenId: t.id, name: t.name }),
    run: async ({ services }, i: { name?: string; expires?: string; parent?: string }) => {
      const fingerprint = await services.gate.prepareKey().catch(() => null);
      return createSiteToken(services.sites, {
        ...(i.name === undefined ? {} : { name: i.name }),
        ...(i.expires === undefined ? {} : { expiresMs: durationOption('expires', i.expires) }),
        parent: i.parent ?? serverUrl(services.config),
        fingerprint,
      });
    },
  }),
  op({
    name: 'sites.set',
    summary: "a site's networks (CIDRs), classes and URL: machines in them get their stage sources at the site",
    role: 'admin',
    method: 'PUT',
    path: '/sites/:name',
    input: {
      properties: {
        name: siteName,
        networks: strings('CIDRs whose machines (by their last address) belong to the site; [] for none', 100),
        classes: strings('classes whose machines belong to the site (before any network); [] for none', 100),
        url: str('the URL machines reach the site by ("" for none)', { maxLength: 300 }),
      },
      required: ['name'],
    },
    output: object('the site, as in sites.show'),
    changes: true,
    run: ({ services }, i: SiteSetInput) =>
      setSite(services.sites, services.fleet.classes, i.name, {
        ...(i.networks === undefined ? {} : { networks: i.networks }),
        ...(i.classes === undefined ? {} : { classes: i.classes }),
        ...(i.url === undefined ? {} : { url: i.url }),
      }),
  }),
  op({
    name: 'sites.remove',
    summary: 'remove a site: its credential stops working, its machines get their sources from this server again',
    role: 'admin',
    method: 'DELETE',
    path: '/sites/:name',
    input: { properties: { name: siteName }, required: ['name'] },
    output: object('{ removed: name }'),
    changes: true,
    run: ({ services }, i: { name: string }) => removeSite(services.sites, i.name),
  }),
];
