// The apt proxy the central server names for this machine (its site's, issue 18): one file of the
// agent's own in apt.conf.d, written atomically and only when its text changes, removed when the
// server names none, left alone when the server says nothing (an older server). Its value comes
// from the network: only a plain http://host[:port]/ passes, so nothing a server sends can add a
// line, a quote or an option to apt's configuration.
import { mkdir, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { writeFileAtomic } from './sources.js';
import type { AptTarget } from './types.js';

/**
 * Read after the usual local proxy files (01proxy, 02proxy) and the package's own
 * 30aptgate-proxy (the central server, when uncommented): the site's setting wins over them;
 * once the file is removed they apply again.
 */
export const APT_PROXY_NAME = '80aptgate-site-proxy';

export function aptProxyFile(target: AptTarget): string {
  return path.join(target.root, 'etc/apt/apt.conf.d', APT_PROXY_NAME);
}

const LABEL = '[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?';
/** a DNS name or an IPv4 address: usable as a key of apt's configuration (no "::", no quote) */
const NAME_RE = new RegExp(`^${LABEL}(?:\\.${LABEL})*$`);
const PROXY_RE = /^http:\/\/([A-Za-z0-9.-]{1,253}|\[[0-9A-Fa-f:.]{2,45}\])(?::([0-9]{1,5}))?\/?$/;

/** `http://host[:port]/` from what the server sent; throws (a message fit for a log line) when it is anything else. */
export function checkAptProxy(value: unknown): string {
  const shown = () => JSON.stringify(String(value).slice(0, 100)).replace(/[\u0000-\u001f\u007f-\u009f]/g, '?');
  if (typeof value !== 'string' || value.length > 300) throw new Error(`the apt proxy is not a short string`);
  const m = PROXY_RE.exec(value);
  const host = m?.[1];
  if (!m || !host || !(host.startsWith('[') || NAME_RE.test(host)))
    throw new Error(`the apt proxy ${shown()} is not http://host[:port]/`);
  const port = m[2] === undefined ? undefined : Number(m[2]);
  if (port !== undefined && (port < 1 || port > 65535)) throw new Error(`the apt proxy ${shown()} has no valid port`);
  return `http://${host.toLowerCase()}${port === undefined ? '' : `:${port}`}/`;
}

/** The host of a URL when apt can name it in a per-host key (a DNS name or IPv4: not an IPv6 literal). */
function keyHost(url: string): string | undefined {
  try {
    const h = new URL(url).hostname.toLowerCase();
    return NAME_RE.test(h) ? h : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The file's text: every http source through `proxy`, but the aptgate server the agent calls and
 * the site itself directly (stage sources name one of them: a proxy would have to map its own
 * host, and an aptgate maps only its backends' mirrors and aliases).
 */
export function renderAptProxy(proxy: string, server: string): string {
  const direct = [...new Set([keyHost(server), keyHost(proxy)].filter((h): h is string => h !== undefined))];
  return [
    '// Written by aptgate-agent: the apt proxy of the site this machine belongs to, as its aptgate',
    '// server says (aptgate sites). The agent rewrites or removes this file at each run: do not edit.',
    `Acquire::http::Proxy "${proxy}";`,
    ...direct.map((h) => `Acquire::http::Proxy::${h} "DIRECT";`),
    '',
  ].join('\n');
}

export type AptProxyChange = 'written' | 'removed' | 'unchanged';

/**
 * Brings the file in line with the server's answer: `value` undefined (an older server) leaves it
 * as it is, '' removes it, a proxy writes it unless its text is already there. Throws, writing
 * nothing, when the value is not an http proxy URL.
 */
export async function applyAptProxy(
  target: AptTarget,
  value: unknown,
  server: string,
): Promise<AptProxyChange | undefined> {
  if (value === undefined) return undefined;
  const want = value === '' ? undefined : renderAptProxy(checkAptProxy(value), server);
  const file = aptProxyFile(target);
  const have = await readFile(file, 'utf8').catch((e: NodeJS.ErrnoException) => {
    if (e.code === 'ENOENT') return undefined;
    throw e;
  });
  if (have === want) return 'unchanged';
  if (want === undefined) {
    await rm(file, { force: true });
    return 'removed';
  }
  await mkdir(path.dirname(file), { recursive: true, mode: 0o755 });
  await writeFileAtomic(file, want, 0o644);
  return 'written';
}
