// Questions about security advisories against the fleet (fleet/queries/exposures.ts answers): the
// issues machines are exposed to with where each fix stands, and one CVE: the machines exposed
// and the fix's standing per stage of the gate.
import { URGENCIES } from '../index/advisories/types.js';
import { showCve } from '../fleet/queries/exposures-cve.js';
import { listCves } from '../fleet/queries/exposures.js';
import { int, object, op, str } from './operation.js';

const page = int('the page (from 1) of `limit` entries', 1, 1_000_000);
const limit = int('entries per page (default 100)', 1, 1000);

export const cveOps = [
  op({
    name: 'cves.list',
    summary:
      'the advisories machines are exposed to, per CVE and source: machines exposed and where the fix stands (upgradable, kept back, held, waiting at the gate, not fixed, not available)',
    role: 'viewer',
    method: 'GET',
    path: '/cves',
    input: {
      properties: {
        machine: str('only this machine (id or hostname): its installed version and status per issue', {
          maxLength: 253,
        }),
        cve: str('only this CVE (CVE-YYYY-NNNN)', { maxLength: 40 }),
        urgency: { type: 'string', enum: [...URGENCIES], description: 'only issues of this urgency' },
        page,
        limit,
      },
    },
    output: object('`{ machine, cves, total, page, limit, machinesExposed }` (`aptgate cves --json`)'),
    changes: false,
    run: ({ fleet }, i: { machine?: string; cve?: string; urgency?: string; page?: number; limit?: number }) =>
      listCves(fleet, i),
  }),
  op({
    name: 'cves.show',
    summary: 'one CVE: what each feed says, the machines exposed (a page) and the fix per stage of the gate',
    role: 'viewer',
    method: 'GET',
    path: '/cves/:cve',
    input: {
      properties: { cve: str('CVE-YYYY-NNNN (or a tracker TEMP id)', { maxLength: 40 }), page, limit },
      required: ['cve'],
    },
    output: object(
      '`{ cve, summary, urgency, records, stages, statuses, machines, total, page, limit }` (`aptgate cves --cve C --json`)',
    ),
    changes: false,
    run: ({ fleet }, i: { cve: string; page?: number; limit?: number }) =>
      showCve(fleet, i.cve, { ...(i.page ? { page: i.page } : {}), ...(i.limit ? { limit: i.limit } : {}) }),
  }),
];
