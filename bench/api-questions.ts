// What bench:api asks the API: the console's questions (docs/console.md), each with its
// parameters varied from one request to the next (pages, classes, search words, machines) and
// its answer checked for shape, with the target where it sets one.
import type { Archive } from './api-archive.js';

export interface Question {
  name: string;
  /** the first path, as the table shows it */
  example: string;
  /** the i-th request's path under /api/v1 */
  path: (i: number) => string;
  check?: (body: unknown, path: string) => void;
  /** server time at p99, ms */
  target?: number;
  /** set when the API has no such route yet */
  missing?: boolean;
}

const SITES = ['ber', 'muc', 'ham', 'fra', 'lon', 'par', 'ams', 'vie'];
const LIMIT = 50;

function listOf(key: string, max?: number) {
  return (body: unknown, path: string) => {
    const list = (body as Record<string, unknown>)[key];
    if (!Array.isArray(list)) throw new Error(`GET ${path}: no "${key}" list in the answer`);
    if (max !== undefined && list.length > max) throw new Error(`GET ${path}: ${list.length} ${key}, asked for ${max}`);
  };
}

function objectAnswer(body: unknown, path: string): void {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new Error(`GET ${path}: not an object`);
}

function machineAnswer(body: unknown, path: string): void {
  objectAnswer(body, path);
  const m = (body as { machine?: { id?: unknown } }).machine;
  if (typeof m?.id !== 'number') throw new Error(`GET ${path}: no machine.id in the answer`);
}

function q(o: Question): Question {
  return o;
}

export function questions(o: {
  machineIds: readonly number[];
  archive: Archive;
  classes: readonly string[];
}): Question[] {
  const { machineIds, archive, classes } = o;
  // pages spread over the list; a page past the end answers an empty list (still a full query)
  const page = (i: number, pages: number) => 1 + ((i * 37) % pages);
  const machine = (i: number) => machineIds[(i * 7919) % machineIds.length]!;
  const sec = archive.securityPackage;
  const build = (f: (i: number) => string): Pick<Question, 'path' | 'example'> => ({ path: f, example: f(0) });
  return [
    q({ name: 'overview', ...build(() => '/overview'), check: objectAnswer, target: 100 }),
    q({
      name: 'machine list, outdated, by hostname, a page of 50',
      ...build((i) => `/machines?state=outdated&sort=hostname&page=${page(i, 300)}&limit=${LIMIT}`),
      check: listOf('machines', LIMIT),
      target: 100,
    }),
    q({
      name: 'machine list, security updates pending, most outdated first, a page of 50',
      ...build((i) => `/machines?state=security&sort=outdated&dir=desc&page=${page(i, 100)}&limit=${LIMIT}`),
      check: listOf('machines', LIMIT),
      target: 100,
    }),
    q({
      name: 'machine list, one class (2,500 machines), by last seen, a page of 50',
      ...build(
        (i) =>
          `/machines?class=${classes[i % classes.length]}&sort=lastSeen&dir=desc&page=${page(i, 50)}&limit=${LIMIT}`,
      ),
      check: listOf('machines', LIMIT),
      target: 100,
    }),
    q({
      name: 'machine list, search by host name, a page of 50',
      // "ws-muc-0013": the 12 or 13 machines of that site whose number starts so (0000-0199: all exist)
      ...build(
        (i) => `/machines?q=ws-${SITES[i % SITES.length]}-${String((i * 13) % 200).padStart(4, '0')}&limit=${LIMIT}`,
      ),
      check: listOf('machines', LIMIT),
      target: 100,
    }),
    q({
      name: `package-first: machines with ${sec.name} older than its -security version`,
      ...build(() => `/packages/${encodeURIComponent(sec.name)}?olderThan=${encodeURIComponent(sec.fixed)}`),
      check: listOf('machines'),
      target: 200,
    }),
    q({
      name: `package-first: ${archive.corePackage}, on every machine, a page of 50`,
      ...build((i) => `/packages/${encodeURIComponent(archive.corePackage)}?page=${page(i, 400)}&limit=${LIMIT}`),
      check: listOf('machines', LIMIT),
      target: 200,
    }),
    q({
      name: `package-first: ${archive.corePackage}, on every machine, the largest page (1,000: what the command line asks, page after page)`,
      ...build((i) => `/packages/${encodeURIComponent(archive.corePackage)}?page=${page(i, 20)}&limit=1000`),
      check: listOf('machines', 1000),
    }),
    q({ name: 'one machine', ...build((i) => `/machines/${machine(i)}`), check: machineAnswer }),
    q({
      name: "one machine's outdated packages",
      ...build((i) => `/machines/${machine(i)}/outdated`),
      check: machineAnswer,
    }),
    q({ name: 'audit log, newest 100', ...build(() => '/audit'), check: listOf('entries', 100) }),
    q({
      name: 'audit log, one user and action, 50 a page',
      ...build((i) => `/audit?user=${['alice', 'oscar', 'olga'][i % 3]}&action=machines&limit=50`),
      check: listOf('entries', 50),
    }),
    q({ name: 'release gate', ...build(() => '/gate'), check: objectAnswer }),
  ];
}
