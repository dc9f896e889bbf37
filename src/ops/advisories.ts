// Operations on the security advisory feeds: their status (viewer) and a fetch now (admin,
// audited with what each feed came to). Importing a file works on the server host's files: it
// stays a command there (`aptgate advisories import`), audited as this noun's.
import { ADVISORY_FEEDS } from '../config.js';
import type { FeedResult } from '../advisories/feeds.js';
import { object, op, str } from './operation.js';

export const advisoryOps = [
  op({
    name: 'advisories.status',
    summary: 'the advisory feeds: URL, last import and check, age of the data, records, last error',
    role: 'viewer',
    method: 'GET',
    path: '/advisories',
    input: { properties: {} },
    output: object('{ fetch, refreshIntervalMs, feeds: [...] }, as aptgate advisories status --json'),
    changes: false,
    run: ({ services }) => services.advisories.status(),
  }),
  op({
    name: 'advisories.refresh',
    summary: 'fetch the advisory feeds now (one, or every feed on), one after the other',
    role: 'admin',
    method: 'POST',
    path: '/advisories/refresh',
    input: {
      properties: { feed: str(`one of ${ADVISORY_FEEDS.join(', ')}; default: every feed on`, { maxLength: 64 }) },
    },
    output: object('{ feeds: [{ feed, result, records, bytes, ms, error }] }, as aptgate advisories refresh --json'),
    changes: true,
    auditDetail: (r: { feeds: FeedResult[] }) =>
      r.feeds.map((f) => ({ feed: f.feed, result: f.result, records: f.records })),
    run: async ({ services }, i: { feed?: string }) => ({
      feeds: await services.advisories.refresh(i.feed === undefined ? undefined : [i.feed]),
    }),
  }),
];
