// A fixture world for proxy tests: a signed repository built from real .debs, served by the
// fixture upstream at /debian, and the backend spec aptgate needs for it.
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { DebSpec } from './debs.js';
import { disposeTestKey, loadTestKey, type TestKey } from './gpg.js';
import { helloDeb } from './paths.js';
import { FixtureRepo, type PublishOptions, type Published } from './repo.js';
import type { BackendSpec } from './server.js';
import { FixtureUpstream } from './upstream.js';

export const MiB = 1024 * 1024;
export const demo1: DebSpec = { name: 'aptgate-demo', version: '1.0-1', description: 'aptgate demo package' };
export const demo2: DebSpec = { name: 'aptgate-demo', version: '2.0-1', description: 'aptgate demo package' };
/** 5 MB of incompressible payload */
export const big: DebSpec = { name: 'aptgate-big', version: '1.0-1', arch: 'all', payloadBytes: 5 * MiB };
/** names with +, ~ and an epoch */
export const odd: DebSpec = { name: 'aptgate-odd+name', version: '1:2.0+dfsg~rc1-1', description: 'odd file name' };

export interface World {
  dir: string;
  key: TestKey;
  repo: FixtureRepo;
  upstream: FixtureUpstream;
  gen1: Published;
  backend: BackendSpec;
  /** another key, not in the keyring aptgate trusts */
  rogue(): Promise<TestKey>;
  close(): Promise<void>;
}

export async function makeWorld(opts: { debs?: DebSpec[]; publish?: PublishOptions } = {}): Promise<World> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'aptgate-test-'));
  const key = await loadTestKey(dir, 'archive');
  const repo = await FixtureRepo.create(path.join(dir, 'repo'), key);
  const gen1 = await repo.publish('stable', opts.debs ?? [demo1, big, odd], { extraDebs: [helloDeb], ...opts.publish });
  const upstream = await FixtureUpstream.start(repo.root, { prefix: '/debian' });
  const keys: TestKey[] = [key];
  return {
    dir,
    key,
    repo,
    upstream,
    gen1,
    backend: { mirrors: [upstream.base], keyring: key.keyring },
    rogue: async () => {
      const k = await loadTestKey(dir, 'rogue');
      keys.push(k);
      return k;
    },
    close: async () => {
      await upstream.close();
      for (const k of keys) await disposeTestKey(k);
      await rm(dir, { recursive: true, force: true });
    },
  };
}

export function debOf(pub: Published, name: string, version?: string) {
  const d = pub.debs.find((x) => x.name === name && (version === undefined || x.version === version));
  if (!d) throw new Error(`no ${name} ${version ?? ''} in the publish`);
  return d;
}
