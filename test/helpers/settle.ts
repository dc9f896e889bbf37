// Waiting for the server's own work in the gate tests: an observer's apt-get update brings an
// upstream generation in, the server indexes what it fetched, and the indexer, the gate's stages
// and the outdated answers catch up.
import { runAptOk, type AptEnv } from './apt.js';
import { indexedNewest, type TestServer } from './server.js';

/** The indexer, the gate and the outdated answers have caught up. */
export async function settled(server: TestServer): Promise<void> {
  await server.proxy.indexer.idle();
  // a newly linked snapshot reaches the gate on the next turn (assembly/background.ts)
  await new Promise((r) => setImmediate(r));
  await server.gate.idle();
  // what the server's tick does within fleet.schedule_tick: a stage that missed a snapshot takes
  // it. Said on stderr: a missed snapshot is a bug of the event path (assembly/background.ts).
  // (a site cache has no gate of its own: nothing to catch up)
  const caught = server.config.site.parent ? [] : await server.gate.catchUp();
  if (caught.length)
    console.error(
      `settled: the gate caught up with ${caught.map((g) => `${g.stage} ${g.backend}/${g.suite}`).join(', ')}`,
    );
  await server.gate.idle();
  await server.outdated.idle();
}

/** The observer's apt-get update through the server, then the server has indexed the suites and settled. */
export async function upstreamSeenBy(
  server: TestServer,
  observer: AptEnv,
  backend: string,
  suites: readonly string[],
): Promise<void> {
  await runAptOk(['update', '--error-on=any'], { apt: observer });
  await indexedNewest(server, backend, suites);
  await settled(server);
}
