// `aptgate advisories status|refresh|import`: the security advisory feeds. status and refresh are
// operations (here or on --server); import reads a file of the server host (an isolated network's
// way in: a feed downloaded by other means), like `cache import`, and is audited here.
import type { Command } from 'commander';
import { localPrincipal } from '../access/principal.js';
import type { AdvisoriesStatus, FeedResult } from '../advisories/feeds.js';
import { fail } from '../errors.js';
import { formatBytes } from '../term/bytes.js';
import { visible } from '../term/visible.js';
import { callOperation, remoteServer, type RemoteOpts } from './call.js';
import { withFleet, type CliShell } from './fleet-context.js';
import { table, when } from './fleet-format.js';
import { ExitStatus } from './run.js';

type Leaf = (parent: Command, spec: string, description: string) => Command;

/** A feed failed (refresh) or the file was refused (import): the output says why. */
export const FEED_FAILED_EXIT = 3;

function age(seconds: number | null): string {
  if (seconds === null) return '-';
  if (seconds < 120) return `${seconds}s`;
  if (seconds < 7200) return `${Math.round(seconds / 60)}m`;
  if (seconds < 172_800) return `${Math.round(seconds / 3600)}h`;
  return `${Math.round(seconds / 86_400)}d`;
}

export function formatAdvisoryStatus(s: AdvisoriesStatus): string {
  const head = s.fetch
    ? `fetching ${s.refreshIntervalMs > 0 ? `every ${age(Math.round(s.refreshIntervalMs / 1000))}` : 'only when asked (aptgate advisories refresh)'}\n`
    : 'fetching is off (advisories.fetch = false): feeds come from aptgate advisories import\n';
  const rows = s.feeds.map((f) => [
    f.feed + (f.on ? '' : ' (off)') + (f.importing ? ' *' : ''),
    String(f.records),
    age(f.ageSeconds) + (f.stale ? ' (stale)' : ''),
    f.fetchedAt ? when(f.fetchedAt) : 'never',
    f.error ? `${when(f.errorAt)} ${f.error.slice(0, 160)}` : '-',
  ]);
  const urls = s.feeds.map((f) => `  ${f.feed}: ${f.url ?? '(no URL: imports only)'}\n`).join('');
  return head + table(['FEED', 'RECORDS', 'AGE', 'IMPORTED', 'LAST ERROR'], rows) + urls;
}

function formatResult(r: FeedResult): string {
  const extra = r.result === 'imported' ? `, ${formatBytes(r.bytes ?? 0)} read` : '';
  const why = r.error ? `: ${visible(r.error)} (the previous records are kept)` : '';
  return `${r.feed}: ${r.result}, ${r.records} records${extra}, ${(r.ms / 1000).toFixed(1)} s${why}\n`;
}

export function registerAdvisoryCommands(program: Command, shell: CliShell, leaf: Leaf): void {
  const advisories = program
    .command('advisories')
    .description('security advisories from the Debian tracker, the DSA and DLA lists and Ubuntu notices');
  leaf(advisories, 'status', 'the feeds: URL, records, age of the data, last import, last error')
    .option('--json', 'machine-readable output')
    .action(async (o: RemoteOpts) => {
      const r = (await callOperation(shell, o, 'advisories.status', {})) as AdvisoriesStatus;
      shell.out(o.json ? JSON.stringify(r, null, 2) + '\n' : formatAdvisoryStatus(r));
    });
  leaf(advisories, 'refresh', 'fetch the feeds now (a conditional GET: nothing changes when upstream did not)')
    .argument('[feed]', 'only this feed (debian-tracker, dsa, dla, usn)')
    .option('--json', 'machine-readable output')
    .action(async (feed: string | undefined, o: RemoteOpts) => {
      const r = (await callOperation(shell, o, 'advisories.refresh', feed === undefined ? {} : { feed })) as {
        feeds: FeedResult[];
      };
      shell.out(o.json ? JSON.stringify(r, null, 2) + '\n' : r.feeds.map(formatResult).join(''));
      if (r.feeds.some((f) => f.result === 'failed')) throw new ExitStatus(FEED_FAILED_EXIT);
    });
  shell
    .configured(
      advisories
        .command('import')
        .description('import a feed from a file downloaded by other means (server host only; an isolated network)'),
    )
    .argument('<feed>', 'debian-tracker, dsa, dla or usn')
    .argument('<file>', 'the feed as published (usn: a JSON array of notices, or a directory of them)')
    .option('--force', 'take a file even when it has far fewer records than the feed holds now')
    .option('--json', 'machine-readable output')
    .action(async (feed: string, file: string, o: RemoteOpts & { force?: boolean }) => {
      if (remoteServer(o) !== undefined)
        fail(
          'USAGE',
          'advisories import reads a file of the server host: run it there (no --server, no APTGATE_SERVER)',
        );
      const r = await withFleet(shell.configFrom(o), ({ services }) =>
        services.audit.recorded(
          { principal: localPrincipal(), action: 'advisories.import', args: { feed, file, force: o.force === true } },
          () => services.advisories.importFile(feed, file, { force: o.force === true }),
          (x) => ({ records: x.records, bytes: x.bytes }),
        ),
      );
      shell.out(o.json ? JSON.stringify(r, null, 2) + '\n' : formatResult(r));
    });
}
