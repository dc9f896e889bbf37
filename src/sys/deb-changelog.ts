// A binary package's Debian changelog, read from its .deb: `dpkg-deb --fsys-tarfile` (no shell)
// streams the data archive, tar-reader.ts keeps only ./usr/share/doc/<pkg>/changelog.Debian.gz
// and the binNMU's changelog.Debian.<arch>.gz, zlib unpacks them off the event loop with a size
// cap, and the text is parsed in slices (index/changelog.ts).
import { spawn } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { gunzip } from 'node:zlib';
import { AptgateError, fail } from '../errors.js';
import { ChangelogParser, type ParsedChangelog } from '../index/changelog.js';
import { TarReader, type TarChoice, type TarEntry } from './tar-reader.js';
import { TimeSlicer } from './time-slice.js';

const gunzipAsync = promisify(gunzip);

export interface DebChangelogTexts {
  /** changelog.Debian(.gz) of the package; null when the package ships none */
  changelog: string | null;
  /** changelog.Debian.<arch>(.gz): the binNMU entries; null when absent */
  binnmu: string | null;
  /**
   * /usr/share/doc/<pkg> is a symlink (libfoo-dev → libfoo): the package directory it names when
   * it stays in /usr/share/doc (read that package's changelog instead), else the raw target
   */
  docLink: string | null;
}

export interface DebChangelogOptions {
  /** the architecture whose binNMU changelog to read (the .deb's own; 'all' has none) */
  arch?: string;
  /** the child's time limit (default 60 s: a large package's data archive is read to its end) */
  timeoutMs?: number;
  /** cap on each decompressed changelog (default 16 MiB) */
  maxBytes?: number;
}

export const MAX_CHANGELOG_BYTES = 16 * 1024 * 1024;
/** A compressed changelog larger than this is refused before it is unpacked. */
const MAX_COMPRESSED = 8 * 1024 * 1024;
const NAME = /^[a-z0-9][a-z0-9+.-]*$/;
const ARCH = /^[a-z0-9][a-z0-9-]*$/;

async function unpack(body: Buffer, gz: boolean, maxBytes: number, what: string): Promise<string> {
  let bytes = body;
  if (gz) {
    try {
      bytes = await gunzipAsync(body, { maxOutputLength: maxBytes });
    } catch (e) {
      const big = (e as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE';
      throw new AptgateError(
        'DECOMPRESS_FAILED',
        big ? `${what}: more than ${maxBytes} bytes unpacked` : `${what}: ${(e as Error).message}`,
        { file: what },
        { cause: e },
      );
    }
  } else if (bytes.length > maxBytes) fail('DECOMPRESS_FAILED', `${what}: more than ${maxBytes} bytes`);
  return new TextDecoder('utf-8').decode(bytes);
}

/** The changelog texts of `pkg` in the .deb at `deb` (see DebChangelogTexts). */
export async function readDebChangelogs(
  deb: string,
  pkg: string,
  opts: DebChangelogOptions = {},
): Promise<DebChangelogTexts> {
  if (!NAME.test(pkg)) fail('USAGE', `not a package name: ${JSON.stringify(pkg.slice(0, 80))}`);
  const arch = opts.arch ?? null;
  if (arch !== null && !ARCH.test(arch)) fail('USAGE', `not an architecture: ${JSON.stringify(arch.slice(0, 80))}`);
  const maxBytes = opts.maxBytes ?? MAX_CHANGELOG_BYTES;
  const dir = `usr/share/doc/${pkg}`;
  const wanted = new Map<string, 'changelog' | 'binnmu'>([
    [`${dir}/changelog.Debian.gz`, 'changelog'],
    [`${dir}/changelog.Debian`, 'changelog'],
  ]);
  if (arch !== null && arch !== 'all') {
    wanted.set(`${dir}/changelog.Debian.${arch}.gz`, 'binnmu');
    wanted.set(`${dir}/changelog.Debian.${arch}`, 'binnmu');
  }
  const bodies: Partial<Record<'changelog' | 'binnmu', { body: Buffer; gz: boolean; path: string }>> = {};
  let docLink: string | null = null;
  const onEntry = (e: TarEntry): TarChoice => {
    const p = e.path.replace(/\/+$/, '');
    if (p === dir && e.type === '2') {
      const target = path.posix.resolve('/usr/share/doc', e.linkPath);
      const m = /^\/usr\/share\/doc\/([^/]+)$/.exec(target);
      docLink = m ? m[1]! : e.linkPath;
      return 'stop'; // nothing of the package's own lies under a symlinked doc directory
    }
    const kind = wanted.get(p);
    if (kind === undefined || (e.type !== '0' && e.type !== '7')) return 'skip';
    if (e.size > MAX_COMPRESSED) fail('DECOMPRESS_FAILED', `${p}: ${e.size} bytes compressed, over ${MAX_COMPRESSED}`);
    return 'keep';
  };
  const onBody = (e: TarEntry, body: Buffer): TarChoice => {
    const kind = wanted.get(e.path)!;
    // changelog.Debian.gz wins over a plain changelog.Debian
    if (!bodies[kind] || e.path.endsWith('.gz')) bodies[kind] = { body, gz: e.path.endsWith('.gz'), path: e.path };
    const all = bodies.changelog && (bodies.binnmu || wanted.size === 2);
    return all ? 'stop' : 'skip';
  };
  await streamTar(path.resolve(deb), new TarReader(onEntry, onBody, MAX_COMPRESSED), opts.timeoutMs ?? 60_000);
  const texts = async (kind: 'changelog' | 'binnmu') => {
    const b = bodies[kind];
    return b ? unpack(b.body, b.gz, maxBytes, b.path) : null;
  };
  return { changelog: await texts('changelog'), binnmu: await texts('binnmu'), docLink };
}

/** Runs dpkg-deb on the .deb and feeds its data archive to the reader until it is done. */
function streamTar(deb: string, reader: TarReader, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('dpkg-deb', ['--fsys-tarfile', deb], {
      shell: false,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, LC_ALL: 'C' },
      // its own process group: dpkg-deb forks the decompressor, which must die with it
      detached: true,
    });
    let timedOut = false;
    let stoppedByUs = false;
    const kill = () => {
      try {
        if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
      } catch {
        child.kill('SIGKILL'); // the group is gone already
      }
      child.stdout.destroy();
    };
    const timer = setTimeout(() => {
      if (stoppedByUs) return;
      timedOut = true;
      kill();
    }, timeoutMs);
    let stderr = '';
    let failure: unknown = null;
    child.stderr.on('data', (c: Buffer) => {
      if (stderr.length < 4096) stderr += c.toString('utf8');
    });
    child.stdout.on('data', (c: Buffer) => {
      if (reader.done || failure) return;
      try {
        reader.push(c);
      } catch (e) {
        failure = e;
      }
      if (reader.done || failure) {
        // everything wanted was read (or the archive is bad): the rest of the archive is not needed
        stoppedByUs = true;
        kill();
      }
    });
    child.on('error', (e) =>
      reject(new AptgateError('EXEC_FAILED', `dpkg-deb: ${e.message}`, { file: 'dpkg-deb' }, { cause: e })),
    );
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (failure) return reject(failure instanceof Error ? failure : new Error(String(failure)));
      if (timedOut) return reject(new AptgateError('EXEC_FAILED', `dpkg-deb on ${deb}: over ${timeoutMs} ms`));
      if (stoppedByUs && reader.done) return resolve();
      if (signal !== null) return reject(new AptgateError('EXEC_FAILED', `dpkg-deb on ${deb}: killed by ${signal}`));
      if (code !== 0) {
        const why = stderr.trim().slice(0, 500);
        return reject(new AptgateError('PARSE_FAILED', `${deb}: not a readable Debian package: ${why}`, { file: deb }));
      }
      try {
        reader.end();
        resolve();
      } catch (e) {
        reject(e instanceof Error ? e : new Error(String(e)));
      }
    });
  });
}

/** Parses a changelog in slices of the event loop (a long one takes longer than one slice). */
export async function parseChangelogSliced(text: string, slicer = new TimeSlicer()): Promise<ParsedChangelog> {
  const parser = new ChangelogParser(text);
  // 200 lines take well under a millisecond; the slicer decides when to give the loop a turn
  while (!parser.step(200)) await slicer.tick();
  return parser.result();
}

export interface DebChangelogs {
  /** the package's changelog then, if any, its binNMU changelog: pass both to referencesBetween */
  logs: ParsedChangelog[];
  docLink: string | null;
}

/** readDebChangelogs, parsed. */
export async function debChangelogs(deb: string, pkg: string, opts: DebChangelogOptions = {}): Promise<DebChangelogs> {
  const texts = await readDebChangelogs(deb, pkg, opts);
  const logs: ParsedChangelog[] = [];
  for (const t of [texts.changelog, texts.binnmu]) if (t !== null) logs.push(await parseChangelogSliced(t));
  return { logs, docLink: texts.docLink };
}
