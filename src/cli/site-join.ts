// `aptgate site join` on a site host (issue 18): the parent's public key fetched from <parent>/key
// and trusted only when its one primary key has the fingerprint the administrator gave (else
// nothing is written), the site registered with its token (site.register), then the key written
// to [site] parent_key and the identity (site id and secret) to STATE_DIR/site/identity.json (0600).
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Config } from '../config.js';
import { parseParentUrl } from '../config-site.js';
import { AptgateError, fail } from '../errors.js';
import { keyringFingerprints } from '../gate/keyring-fingerprint.js';
import type { SiteRegistered } from '../protocol/wire.js';
import {
  readSiteIdentity,
  siteIdentityFile,
  siteStateDir,
  SiteClient,
  writeSiteIdentity,
} from '../assembly/site-client.js';

export interface JoinOptions {
  parent: string;
  token: string;
  fingerprint: string;
  url?: string;
  name?: string;
}

export interface Joined {
  site: number;
  name: string;
  parent: string;
  fingerprint: string;
  parentKey: string;
  identity: string;
}

const KEY_LIMIT = 1024 * 1024;

async function fetchKey(parent: string): Promise<Buffer> {
  const url = `${parent}/key`;
  let res: Response;
  try {
    res = await fetch(url, { signal: AbortSignal.timeout(30_000), redirect: 'error' });
  } catch (err) {
    fail('UPSTREAM_FAILED', `${url}: ${(err as Error).message}`);
  }
  if (res.status !== 200) fail('UPSTREAM_FAILED', `${url}: HTTP ${res.status}`);
  const declared = Number(res.headers.get('content-length') ?? 0);
  if (declared > KEY_LIMIT) fail('UPSTREAM_TOO_LARGE', `${url}: a key of ${declared} bytes`);
  // read up to the limit, not the whole body first: a body without end would fill the memory
  const chunks: Buffer[] = [];
  let size = 0;
  const reader = res.body?.getReader();
  try {
    for (;;) {
      const r = await reader?.read();
      if (!r || r.done) break;
      size += r.value.length;
      if (size > KEY_LIMIT) fail('UPSTREAM_TOO_LARGE', `${url}: a key of more than ${KEY_LIMIT} bytes`);
      chunks.push(Buffer.from(r.value));
    }
  } catch (err) {
    await reader?.cancel().catch(() => undefined);
    if (err instanceof AptgateError) throw err;
    fail('UPSTREAM_FAILED', `${url}: ${(err as Error).message}`);
  }
  return Buffer.concat(chunks, size);
}

export async function joinSite(config: Config, o: JoinOptions): Promise<Joined> {
  let parent: string;
  try {
    parent = parseParentUrl('--parent', o.parent);
  } catch (err) {
    fail('USAGE', (err as Error).message);
  }
  if (!parent) fail('USAGE', '--parent: the central server URL is needed');
  const want = o.fingerprint.replace(/\s+/g, '').toUpperCase();
  if (!/^[0-9A-F]{40}$|^[0-9A-F]{64}$/.test(want))
    fail(
      'USAGE',
      '--fingerprint: the full fingerprint of the central server key (40 or 64 hex digits; aptgate key export)',
    );
  const known = readSiteIdentity(config);
  if (known || existsSync(siteIdentityFile(config)))
    fail(
      'USAGE',
      `this host has joined already${known ? ` (site ${known.name} under ${known.parent})` : ''}: remove ${siteIdentityFile(config)} to join again`,
    );
  const key = await fetchKey(parent);
  const found = keyringFingerprints(key);
  if (found.length !== 1 || found[0] !== want)
    fail(
      'SIGNATURE',
      `${parent}/key holds ${found.length === 1 ? `the key ${found[0]}` : `${found.length} keys`}, not ${want}: refused, nothing written (check the fingerprint with the central administrator)`,
    );
  const keyFile = config.site.parentKey || path.join(siteStateDir(config), 'parent-key.gpg');
  await mkdir(path.dirname(keyFile), { recursive: true });
  // a random name created exclusively: never written through a link left at a guessable name
  const tmp = `${keyFile}.${randomBytes(8).toString('hex')}.tmp`;
  await writeFile(tmp, key, { mode: 0o644, flag: 'wx' });
  let r: SiteRegistered;
  try {
    r = await new SiteClient(parent).call<SiteRegistered>('site.register', [
      { token: o.token, name: o.name ?? '', url: o.url ?? '' },
    ]);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
  await rename(tmp, keyFile);
  const identity = await writeSiteIdentity(config, { parent, site: r.site, name: r.name, secret: r.secret });
  return { site: r.site, name: r.name, parent, fingerprint: want, parentKey: keyFile, identity };
}

export function formatJoined(j: Joined, config: Config): string {
  return [
    `joined ${j.parent} as site ${j.name} (site ${j.site})`,
    `  parent key ${j.fingerprint} written to ${j.parentKey}`,
    `  identity in ${j.identity}`,
    config.site.parent === j.parent
      ? '  restart aptgate serve: it reports to its parent'
      : `  set [site] parent = ${j.parent} in the configuration (or aptgate serve --site-of ${j.parent}) and restart`,
    '',
  ].join('\n');
}
