// `aptgate sites list|show|token|set|remove` on the central server (each runs its operation of
// ops/sites.ts here or on --server; sites-format.ts prints) and `aptgate site join` on a site
// host (site-join.ts).
import type { Command } from 'commander';
import { fail } from '../errors.js';
import type { SiteInfo, SiteTokenCreated } from '../fleet/queries/sites.js';
import { opRunner, type RemoteOpts } from './call.js';
import { locateConfig } from './locate.js';
import type { CliShell } from './fleet-context.js';
import { formatJoined, joinSite } from './site-join.js';
import { formatSite, formatSites, formatSiteToken } from './sites-format.js';

type Leaf = (parent: Command, spec: string, description: string) => Command;

const collect = (value: string, previous: string[] = []) => [...previous, value];

export function registerSiteCommands(program: Command, shell: CliShell, leaf: Leaf): void {
  const run = opRunner(shell);

  const sites = program
    .command('sites')
    .description('site caches under this server: their traffic, health, preload and which machines they serve');
  leaf(sites, 'list', 'sites with last contact, bytes served locally and from the parent, hit ratio, health, preload')
    .option('--json', 'machine-readable output')
    .action((o: RemoteOpts) => run(o, 'sites.list', {}, (r: { sites: SiteInfo[] }) => formatSites(r.sites)));
  leaf(sites, 'show', 'one site: its statistics, networks, classes and machines')
    .argument('<name>')
    .option('--json', 'machine-readable output')
    .action((name: string, o: RemoteOpts) => run(o, 'sites.show', { name }, (s: SiteInfo) => formatSite(s)));
  leaf(sites, 'token', 'a site enrolment token (one use), printed with the command to run on the site host')
    .option('--name <name>', 'the site it registers (default: the name the site proposes)')
    .option('--expires <duration>', 'valid for this long, e.g. 7d or 12h (default: no expiry)')
    .option('--parent <url>', "this server's URL in the join command (default http://SERVER-HOST:PORT)")
    .option('--json', 'machine-readable output')
    .action((o: RemoteOpts & { name?: string; expires?: string; parent?: string }) =>
      run(
        o,
        'sites.token',
        {
          ...(o.name === undefined ? {} : { name: o.name }),
          ...(o.expires === undefined ? {} : { expires: o.expires }),
          ...(o.parent === undefined ? {} : { parent: o.parent }),
        },
        (t: SiteTokenCreated) => formatSiteToken(t),
      ),
    );
  leaf(sites, 'set', "a site's networks, classes and URL: its machines get their stage sources at the site")
    .argument('<name>')
    .option(
      '--networks <cidrs>',
      'CIDRs, comma-separated, whose machines (their last address) belong to it ("" for none)',
    )
    .option('--class <class>', 'a class whose machines belong to it (repeat for more; replaces the list)', collect)
    .option('--no-classes', 'the site lists no class')
    .option('--url <url>', 'the URL machines reach the site by ("" for none)')
    .option('--json', 'machine-readable output')
    .action(
      (name: string, o: RemoteOpts & { networks?: string; class?: string[]; classes?: boolean; url?: string }) => {
        if (o.networks === undefined && o.class === undefined && o.classes !== false && o.url === undefined)
          fail('USAGE', 'sites set: give --networks, --class, --no-classes or --url');
        return run(
          o,
          'sites.set',
          {
            name,
            ...(o.networks === undefined ? {} : { networks: o.networks.split(',').map((n) => n.trim()) }),
            ...(o.class !== undefined ? { classes: o.class } : o.classes === false ? { classes: [] } : {}),
            ...(o.url === undefined ? {} : { url: o.url }),
          },
          (s: SiteInfo) => formatSite(s),
        );
      },
    );
  leaf(sites, 'remove', 'remove a site: its credential stops working, its machines use this server again')
    .argument('<name>')
    .option('--json', 'machine-readable output')
    .action((name: string, o: RemoteOpts) =>
      run(o, 'sites.remove', { name }, (r: { removed: string }) => `site ${r.removed} removed\n`),
    );

  // on a site host, before its server ever ran: no database needed (only serve creates state)
  const site = program.command('site').description('this host as a site cache under a central aptgate');
  site
    .command('join')
    .description("register this host as a site of the central server and keep the parent's key")
    .requiredOption('--parent <url>', 'the central server, e.g. http://aptgate.example:3142')
    .requiredOption('--token <token>', 'a site token (aptgate sites token on the central server)')
    .requiredOption('--fingerprint <fpr>', "the central server key's fingerprint (aptgate key export there)")
    .option('--url <url>', 'the URL machines reach this site by')
    .option('--name <name>', "this site's name (default: the token's)")
    .option('-c, --config <file>', 'configuration file (default: built-in defaults; env APTGATE_CONFIG)')
    .option('--state-dir <dir>', 'state directory (default: state/ of the checkout, or /var/lib/aptgate)')
    .option('--json', 'machine-readable output')
    .action(async (o: JoinOpts) => {
      const config = locateConfig('print', {
        ...(o.config ? { file: o.config } : {}),
        overrides: o.stateDir === undefined ? {} : { stateDir: o.stateDir },
      });
      const j = await joinSite(config, {
        parent: o.parent,
        token: o.token,
        fingerprint: o.fingerprint,
        ...(o.url === undefined ? {} : { url: o.url }),
        ...(o.name === undefined ? {} : { name: o.name }),
      });
      shell.out(o.json ? JSON.stringify(j, null, 2) + '\n' : formatJoined(j, config));
    });
}

interface JoinOpts {
  parent: string;
  token: string;
  fingerprint: string;
  url?: string;
  name?: string;
  config?: string;
  stateDir?: string;
  json?: boolean;
}
