// Issue 14: `aptgate clients [--json]` — which addresses use the proxy, with first and last
// request, requests, bytes served and hit ratio, enrolled or not (an enrolled machine named by
// the address of its last signed /RPC2 call). Real HTTP from several loopback addresses to a
// server on a dual-stack socket (its clients are ::ffff:127.0.0.x: stored as IPv4), then the
// real CLI on the same database.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { buildApp } from '../src/app.js';
import { decodeResponse, encodeCall } from '../src/protocol/codec.js';
import { signRequest } from '../src/protocol/signing.js';
import { openDb } from '../src/state/db.js';
import { ClientStore } from '../src/state/clients.js';
import { exec } from './helpers/exec.js';
import { request, type Response } from './helpers/http.js';
import { projectRoot } from './helpers/paths.js';
import { testConfig } from './helpers/server.js';
import { debOf, makeWorld } from './helpers/world.js';

const CLI = path.join(projectRoot, 'dist', 'src', 'cli', 'main.js');

/** POST /RPC2 from a given local address. */
function rpc(port: number, from: string, body: string, headers: Record<string, string> = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        path: '/RPC2',
        method: 'POST',
        localAddress: from,
        agent: false,
        headers: { 'content-type': 'text/xml', ...headers },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => {
          text += c;
        });
        res.on('end', () => resolve(text));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

interface ClientJson {
  address: string;
  firstSeen: string;
  lastSeen: string;
  requests: number;
  bytes: number;
  hits: number;
  misses: number;
  hitRatio: number | null;
  machines: Array<{ id: number; hostname: string }>;
}

test(
  "aptgate clients lists the proxy's clients by address with their counts, naming the enrolled machine",
  { timeout: 180_000 },
  async () => {
    const world = await makeWorld();
    try {
      const config = testConfig(path.join(world.dir, 'srv'), { fixture: world.backend }, (c) => {
        // every InRelease after the first is a hit, however slow the machine
        c.proxy.releaseTtlMs = 3_600_000;
      });
      await mkdir(config.cacheDir, { recursive: true });
      const db = openDb(config.db);
      const built = await buildApp({ config, db, dbFile: config.db, logger: false });
      let open = true;
      const close = async () => {
        if (!open) return;
        open = false;
        await built.app.close();
        db.close();
      };
      try {
        // a dual-stack socket bound to 127.0.0.1 only: IPv4 clients arrive as ::ffff:127.0.0.x
        await built.app.listen({ host: '::ffff:127.0.0.1', port: 0 });
        const port = (built.app.server.address() as { port: number }).port;
        const cli = (...args: string[]) =>
          exec(process.execPath, [
            CLI,
            'clients',
            ...args,
            '--db',
            config.db,
            '--cache-dir',
            config.cacheDir,
            '--backend',
            `fixture=${world.backend.mirrors[0]}`,
            '--keyring',
            `fixture=${world.backend.keyring}`,
          ]);
        assert.match((await cli()).stdout.toString(), /^no clients yet/);

        // 127.0.0.2 is an enrolled machine: it enrols and checks in from there
        const { token } = built.fleet.enrolment.createToken({ autoApprove: true });
        const machineId = randomBytes(16).toString('hex');
        const facts = {
          hostname: 'web1',
          machineId,
          architecture: 'amd64',
          foreignArchitectures: [],
          distribution: 'debian',
          codename: 'bookworm',
          kernel: '6.1.0',
          agentVersion: 'test',
        };
        const enrolled = (await decodeResponse(
          await rpc(port, '127.0.0.2', encodeCall('agent.enroll', [{ token, facts }])),
        )) as { machine: number; secret: string };
        const checkIn = encodeCall('agent.checkIn', [{ machineId, state: 'a'.repeat(64), packages: 'b'.repeat(64) }]);
        const answer = (await decodeResponse(
          await rpc(
            port,
            '127.0.0.2',
            checkIn,
            signRequest(enrolled.secret, String(enrolled.machine), Date.now(), checkIn),
          ),
        )) as { status: string };
        assert.equal(answer.status, 'approved');
        // another machine, enrolled from an address that never uses the proxy: not a client
        const other = (await decodeResponse(
          await rpc(
            port,
            '127.0.0.9',
            encodeCall('agent.enroll', [
              { token, facts: { ...facts, hostname: 'db1', machineId: randomBytes(16).toString('hex') } },
            ]),
          ),
        )) as { machine: number };
        assert.ok(other.machine > 0);

        const hello = `/fixture/${debOf(world.gen1, 'hello').filename}`;
        const demo = `/fixture/${debOf(world.gen1, 'aptgate-demo').filename}`;
        const got: Record<string, Response[]> = { '127.0.0.2': [], '127.0.0.3': [] };
        const get = async (from: string, target: string) => {
          const r = await request(port, target, { localAddress: from });
          got[from]!.push(r);
          return r;
        };
        const before = Date.now();
        // as apt does: the index first, then packages
        // (fetched from upstream: misses)
        assert.equal((await get('127.0.0.2', '/fixture/dists/stable/InRelease')).status, 200);
        assert.equal((await get('127.0.0.2', '/fixture/dists/stable/main/binary-amd64/Packages.xz')).status, 200);
        await built.proxy.indexer.idle();
        assert.equal((await get('127.0.0.2', hello)).headers['x-aptgate-result'], 'miss');
        await built.proxy.fills.drain();
        assert.equal((await get('127.0.0.2', hello)).headers['x-aptgate-result'], 'hit');
        // 127.0.0.3 is not enrolled: hits, and a file nobody has (neither a hit nor a miss)
        assert.equal((await get('127.0.0.3', '/fixture/dists/stable/InRelease')).status, 200);
        assert.equal((await get('127.0.0.3', hello)).headers['x-aptgate-result'], 'hit');
        assert.equal((await get('127.0.0.3', '/fixture/pool/main/n/nope/nope_1.0_all.deb')).status, 404);
        const after = Date.now();
        // the counts reach the database in batches (every few seconds; now, for the test)
        built.proxy.clients.flush();

        const json = await cli('--json');
        assert.equal(json.code, 0, json.stderr.toString());
        const { clients } = JSON.parse(json.stdout.toString()) as { clients: ClientJson[] };
        const by = new Map(clients.map((c) => [c.address, c]));
        assert.deepEqual(
          [...by.keys()].sort(),
          ['127.0.0.2', '127.0.0.3'],
          'unmapped addresses; /RPC2 alone does not make a client',
        );
        const bodyBytes = (from: string) => got[from]!.reduce((n, r) => n + (r.status === 200 ? r.body.length : 0), 0);
        const web = by.get('127.0.0.2')!;
        assert.deepEqual(
          { ...web, firstSeen: undefined, lastSeen: undefined },
          {
            address: '127.0.0.2',
            firstSeen: undefined,
            lastSeen: undefined,
            requests: 4,
            bytes: bodyBytes('127.0.0.2'),
            hits: 1,
            misses: 3,
            hitRatio: 0.25,
            machines: [{ id: enrolled.machine, hostname: 'web1' }],
          },
        );
        const anon = by.get('127.0.0.3')!;
        assert.deepEqual(
          { ...anon, firstSeen: undefined, lastSeen: undefined },
          {
            address: '127.0.0.3',
            firstSeen: undefined,
            lastSeen: undefined,
            requests: 3,
            bytes: bodyBytes('127.0.0.3'),
            hits: 2,
            misses: 0,
            hitRatio: 1,
            machines: [],
          },
        );
        for (const c of clients) {
          const [first, last] = [Date.parse(c.firstSeen), Date.parse(c.lastSeen)];
          assert.ok(before <= first && first <= last && last <= after, JSON.stringify(c));
        }
        assert.ok(Date.parse(web.firstSeen) < Date.parse(anon.firstSeen));
        assert.equal(clients[0]!.address, '127.0.0.3', 'most recently seen first');

        // the human form: one row per client, the machine named, the hit ratio in percent
        const human = await cli();
        assert.equal(human.code, 0, human.stderr.toString());
        const lines = human.stdout.toString().trimEnd().split('\n');
        assert.match(lines[0]!, /^ADDRESS\s+MACHINE\s+FIRST SEEN\s+LAST SEEN\s+REQUESTS\s+SERVED\s+HITS$/);
        assert.equal(lines.length, 3);
        assert.match(lines[1]!, /^127\.0\.0\.3\s+-\s+\d{4}-\d\d-\d\d \d\d:\d\d\s+just now\s+3\s+\S+ (B|KiB)\s+100%$/);
        assert.match(
          lines[2]!,
          new RegExp(
            `^127\\.0\\.0\\.2\\s+web1 \\(${enrolled.machine}\\)\\s+\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d\\s+just now\\s+4\\s+\\S+ (B|KiB)\\s+25%$`,
          ),
        );

        // counts add up across flushes, and closing the server writes what is left
        await get('127.0.0.3', demo);
        await close();
        const again = JSON.parse((await cli('--json')).stdout.toString()) as { clients: ClientJson[] };
        const anon2 = again.clients.find((c) => c.address === '127.0.0.3')!;
        assert.deepEqual(
          [anon2.requests, anon2.misses, anon2.bytes, anon2.firstSeen],
          [4, 1, bodyBytes('127.0.0.3'), anon.firstSeen],
        );
      } finally {
        await close();
      }
    } finally {
      await world.close();
    }
  },
);

test('the clients table stays bounded: clients unseen for 90 days go, then the least recently seen beyond the cap', () => {
  const db = openDb(':memory:');
  try {
    const store = new ClientStore(db);
    const now = Date.UTC(2026, 11, 7);
    const day = 86_400_000;
    store.add([
      ['10.0.0.1', { first: now - 200 * day, last: now - 91 * day, requests: 1, bytes: 1, hits: 1, misses: 0 }],
      ['10.0.0.2', { first: now - 5 * day, last: now - 3 * day, requests: 1, bytes: 1, hits: 0, misses: 1 }],
      ['10.0.0.3', { first: now - 5 * day, last: now - 2 * day, requests: 1, bytes: 1, hits: 0, misses: 0 }],
      ['10.0.0.4', { first: now - 5 * day, last: now - 1 * day, requests: 1, bytes: 1, hits: 0, misses: 0 }],
    ]);
    // a later batch adds to the counts and keeps the first sighting
    store.add([['10.0.0.4', { first: now, last: now, requests: 2, bytes: 10, hits: 1, misses: 1 }]]);
    assert.equal(store.prune(now, 90 * day, 2), 2);
    assert.deepEqual(
      store.list().map((c) => [c.address, c.firstSeen, c.lastSeen, c.requests, c.bytes, c.hits, c.misses]),
      [
        ['10.0.0.4', now - 5 * day, now, 3, 11, 1, 1],
        ['10.0.0.3', now - 5 * day, now - 2 * day, 1, 1, 0, 0],
      ],
    );
  } finally {
    db.close();
  }
});
