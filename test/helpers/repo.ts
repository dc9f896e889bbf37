/**
 * A real, gpg-signed Debian repository on disk, built from real .debs (see debs.ts), laid out like
 * deb.debian.org: <root>/pool/<component>/<prefix>/<source>/<file>.deb and
 * <root>/dists/<suite>/{InRelease,Release,Release.gpg,<component>/binary-<arch>/...}.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, readFile, rename, rm, stat, utimes, writeFile, copyFile, mkdtemp } from 'node:fs/promises';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { buildDeb, debFileName, field, readDebControl, type ControlFields, type DebSpec } from './debs.js';
import { execOk } from './exec.js';
import { clearsign, detachSign, type TestKey } from './gpg.js';

export type Compression = 'xz' | 'gz' | 'none';

export interface PublishOptions {
  /** default 'main' */
  component?: string;
  /** default ['amd64']; one Packages per binary-<arch>; Architecture: all packages go into each of them */
  architectures?: string[];
  /** default 'Aptgate Test' */
  origin?: string;
  /** default 'Aptgate Test' */
  label?: string;
  /** default: the suite name */
  codename?: string;
  validUntil?: Date;
  notAutomatic?: boolean;
  butAutomaticUpgrades?: boolean;
  /**
   * default true: `Acquire-By-Hash: yes` and by-hash/SHA256/<hex> copies of every index file next to it.
   * Old by-hash files are never deleted (like the real archive).
   */
  byHash?: boolean;
  /**
   * default ['xz', 'gz']: which Packages files exist on disk. Release always lists the uncompressed
   * Packages too (like Debian), even when only compressed files are published.
   */
  compressions?: Compression[];
  /** default: the repo's key */
  signWith?: TestKey;
  /**
   * default: max(now - 10 min, previous publish of this suite + 1 s), in whole seconds. The 10 minutes
   * in the past keep bursts of publishes from producing a Date in the future (apt rejects Dates more
   * than Acquire::Max-FutureTime = 10 s ahead) while keeping successive InRelease files distinct.
   */
  date?: Date;
  /** paths of existing .deb files (e.g. helloDeb) to include */
  extraDebs?: string[];
  /**
   * Per-package fields of the Packages paragraphs, like the archive's override file: called for
   * every package of every Packages file written. Each returned field replaces the .deb's control
   * field of that name (case-insensitive) or, when the control has none, is added to it; the usual
   * order applies (Description, Homepage, Section, Priority last). Lets real Debian .debs be
   * published with the archive's own Priority, Section, Tag, ... (several .debs' control Priority
   * differs from the archive's, which debootstrap goes by). Filename, Size and the checksums are
   * always computed; Package, Version and Architecture may only be repeated unchanged.
   */
  packagesFields?: (deb: { name: string; version: string; arch: string }) => ControlFields | undefined;
}

export interface PublishedDeb {
  name: string;
  version: string;
  arch: string;
  /** pool/... relative to the repo root */
  filename: string;
  size: number;
  sha256: string;
}

export interface Published {
  suite: string;
  inRelease: Buffer;
  release: Buffer;
  releaseGpg: Buffer;
  date: Date;
  /** paths relative to dists/<suite>/ as listed in Release (SHA256 and MD5Sum sections) */
  files: Map<string, { size: number; sha256: string }>;
  debs: PublishedDeb[];
}

interface FileHashes {
  size: number;
  md5: string;
  sha256: string;
}

interface PoolEntry extends FileHashes {
  control: ControlFields;
  name: string;
  version: string;
  arch: string;
  filename: string;
}

/** `Sat, 11 Jul 2026 10:16:37 UTC` */
export function formatReleaseDate(d: Date): string {
  return d.toUTCString().replace(/GMT$/, 'UTC');
}

export function poolPrefix(source: string): string {
  return source.startsWith('lib') && source.length > 3 ? source.slice(0, 4) : source.slice(0, 1);
}

function hashBuffer(data: Buffer): FileHashes {
  return {
    size: data.length,
    md5: createHash('md5').update(data).digest('hex'),
    sha256: createHash('sha256').update(data).digest('hex'),
  };
}

async function hashFile(file: string): Promise<FileHashes> {
  const md5 = createHash('md5');
  const sha256 = createHash('sha256');
  let size = 0;
  for await (const chunk of createReadStream(file)) {
    const b = chunk as Buffer;
    md5.update(b);
    sha256.update(b);
    size += b.length;
  }
  return { size, md5: md5.digest('hex'), sha256: sha256.digest('hex') };
}

let tmpCounter = 0;
function tmpName(file: string): string {
  return path.join(path.dirname(file), `.${path.basename(file)}.tmp-${process.pid}-${++tmpCounter}`);
}

/** write to a temp file in the same directory, then rename over the target */
async function writeAtomic(file: string, data: Buffer, mtime?: Date): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true });
  const tmp = tmpName(file);
  await writeFile(tmp, data, { mode: 0o644 });
  if (mtime) await utimes(tmp, mtime, mtime);
  await rename(tmp, file);
}

async function exists(p: string): Promise<boolean> {
  try {
    await stat(p);
    return true;
  } catch {
    return false;
  }
}

function xz(data: Buffer): Promise<Buffer> {
  return execOk('xz', ['-c', '-6', '-T1', '--check=crc64'], { input: data, timeoutMs: 60_000 });
}

// Field order of Packages paragraphs (the rest of the control fields follow in their .deb order).
const HEAD_FIELDS = ['Package', 'Source', 'Version', 'Installed-Size', 'Maintainer', 'Architecture', 'Multi-Arch'];
const TAIL_FIELDS = ['Description', 'Homepage', 'Section', 'Priority'];

const COMPUTED_FIELDS = ['filename', 'size', 'md5sum', 'sha1', 'sha256', 'sha512'];
const IDENTITY_FIELDS = ['package', 'version', 'architecture'];

/** the control fields with `overrides` applied (see PublishOptions.packagesFields) */
function withOverrides(e: PoolEntry, overrides: ControlFields | undefined): ControlFields {
  if (!overrides || overrides.length === 0) return e.control;
  const out: ControlFields = e.control.map(([k, v]) => [k, v]);
  for (const [k, v] of overrides) {
    const lower = k.toLowerCase();
    if (COMPUTED_FIELDS.includes(lower))
      throw new Error(`packagesFields of ${e.name} ${e.version} ${e.arch}: ${k} is computed, it cannot be set`);
    const at = out.findIndex(([ck]) => ck.toLowerCase() === lower);
    if (IDENTITY_FIELDS.includes(lower) && (at === -1 || out[at]![1] !== v)) {
      throw new Error(`packagesFields of ${e.name} ${e.version} ${e.arch}: ${k}: ${v} differs from the .deb's`);
    }
    if (at === -1) out.push([k, v]);
    else out[at] = [out[at]![0], v];
  }
  return out;
}

function packagesParagraph(e: PoolEntry, overrides?: ControlFields): string {
  const control = withOverrides(e, overrides);
  const byName = new Map(control.map(([k, v]) => [k.toLowerCase(), [k, v] as [string, string]]));
  const out: Array<[string, string]> = [];
  const take = (name: string) => {
    const f = byName.get(name.toLowerCase());
    if (f) {
      out.push(f);
      byName.delete(name.toLowerCase());
    }
  };
  for (const f of HEAD_FIELDS) take(f);
  for (const [k] of control) if (!TAIL_FIELDS.some((t) => t.toLowerCase() === k.toLowerCase())) take(k);
  for (const f of TAIL_FIELDS) take(f);
  if (!out.some(([k]) => k === 'Section')) out.push(['Section', 'misc']);
  if (!out.some(([k]) => k === 'Priority')) out.push(['Priority', 'optional']);
  out.push(['Filename', e.filename], ['Size', String(e.size)], ['MD5sum', e.md5], ['SHA256', e.sha256]);
  return out.map(([k, v]) => `${k}: ${v}\n`).join('');
}

export class FixtureRepo {
  /** the repository base directory (contains dists/ and pool/) */
  readonly root: string;
  readonly key: TestKey;
  private readonly lastDate = new Map<string, number>();
  private readonly hashCache = new Map<string, { stamp: string; entry: PoolEntry }>();
  private queue: Promise<unknown> = Promise.resolve();

  private constructor(root: string, key: TestKey) {
    this.root = root;
    this.key = key;
  }

  static async create(dir: string, key: TestKey): Promise<FixtureRepo> {
    const root = path.resolve(dir);
    await mkdir(path.join(root, 'dists'), { recursive: true });
    await mkdir(path.join(root, 'pool'), { recursive: true });
    return new FixtureRepo(root, key);
  }

  /** absolute path of a file under the repo root (e.g. 'dists/stable/InRelease') */
  path(rel: string): string {
    return path.join(this.root, rel);
  }

  /**
   * (Re)writes dists/<suite>/: builds missing pool files, writes by-hash copies and the index files,
   * then Release.gpg, Release and InRelease last. Publishes of one FixtureRepo are serialised.
   *
   * Pool files are immutable like in a real archive: if pool/.../<name>_<version>_<arch>.deb already
   * exists it is reused as is (not rebuilt), even if the DebSpec's payloadBytes differ.
   *
   * The mtime of every rewritten index/Release file is set to the Release Date, so Last-Modified
   * increases strictly from one publish to the next (If-Modified-Since works at 1 s resolution).
   */
  publish(suite: string, debs: DebSpec[], opts: PublishOptions = {}): Promise<Published> {
    const run = this.queue.then(() => this.doPublish(suite, debs, opts));
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async doPublish(suite: string, specs: DebSpec[], opts: PublishOptions): Promise<Published> {
    if (!/^[A-Za-z0-9][A-Za-z0-9._/-]*$/.test(suite) || suite.split('/').includes('..'))
      throw new Error(`invalid suite ${suite}`);
    const component = opts.component ?? 'main';
    const archs = opts.architectures ?? ['amd64'];
    if (archs.length === 0 || archs.includes('all'))
      throw new Error('architectures must be non-empty real architectures (not "all")');
    const compressions = opts.compressions ?? ['xz', 'gz'];
    if (compressions.length === 0) throw new Error('compressions must not be empty');
    const byHash = opts.byHash ?? true;
    const key = opts.signWith ?? this.key;
    const origin = opts.origin ?? 'Aptgate Test';
    const label = opts.label ?? 'Aptgate Test';
    const codename = opts.codename ?? suite;
    const suiteDir = path.join(this.root, 'dists', suite);

    // Date
    let prev = this.lastDate.get(suite);
    if (prev === undefined) prev = await this.readPreviousDate(suiteDir);
    const date = opts.date
      ? new Date(opts.date.getTime())
      : new Date(Math.max(Math.floor(Date.now() / 1000) * 1000 - 600_000, (prev ?? 0) + 1000));
    this.lastDate.set(suite, date.getTime());

    // Pool
    const entries = await Promise.all([
      ...specs.map((s) => this.poolFromSpec(s, component)),
      ...(opts.extraDebs ?? []).map((d) => this.poolFromDeb(d, component)),
    ]);
    const seen = new Set<string>();
    for (const e of entries) {
      const id = `${e.name} ${e.version} ${e.arch}`;
      if (seen.has(id)) throw new Error(`duplicate package ${id}`);
      seen.add(id);
      if (e.arch !== 'all' && !archs.includes(e.arch))
        throw new Error(`package ${id} is not for any of ${archs.join(', ')}`);
    }
    entries.sort((a, b) =>
      a.name < b.name
        ? -1
        : a.name > b.name
          ? 1
          : a.version < b.version
            ? -1
            : a.version > b.version
              ? 1
              : a.arch < b.arch
                ? -1
                : 1,
    );

    // Indices
    const listed = new Map<string, FileHashes>();
    for (const arch of archs) {
      const relDir = `${component}/binary-${arch}`;
      const dir = path.join(suiteDir, relDir);
      // Like Debian's, every paragraph ends with an empty line, the last one too: debootstrap's
      // Packages parser only takes a paragraph when it reaches that empty line.
      const packages = Buffer.from(
        entries
          .filter((e) => e.arch === arch || e.arch === 'all')
          .map(
            (e) =>
              `${packagesParagraph(e, opts.packagesFields?.({ name: e.name, version: e.version, arch: e.arch }))}\n`,
          )
          .join(''),
        'utf8',
      );
      const perDirRelease = Buffer.from(
        [
          `Archive: ${suite}`,
          `Origin: ${origin}`,
          `Label: ${label}`,
          ...(byHash ? ['Acquire-By-Hash: yes'] : []),
          `Component: ${component}`,
          `Architecture: ${arch}`,
          '',
        ].join('\n'),
      );
      const onDisk = new Map<string, Buffer>();
      if (compressions.includes('none')) onDisk.set('Packages', packages);
      if (compressions.includes('xz')) onDisk.set('Packages.xz', await xz(packages));
      if (compressions.includes('gz')) onDisk.set('Packages.gz', gzipSync(packages, { level: 9 }));
      onDisk.set('Release', perDirRelease);

      listed.set(`${relDir}/Packages`, hashBuffer(packages));
      for (const [name, data] of onDisk) listed.set(`${relDir}/${name}`, hashBuffer(data));

      if (byHash) {
        for (const [name, data] of onDisk) {
          const target = path.join(dir, 'by-hash', 'SHA256', listed.get(`${relDir}/${name}`)!.sha256);
          if (!(await exists(target))) await writeAtomic(target, data, date);
        }
      }
      for (const [name, data] of onDisk) await writeAtomic(path.join(dir, name), data, date);
      for (const name of ['Packages', 'Packages.xz', 'Packages.gz']) {
        if (!onDisk.has(name)) await rm(path.join(dir, name), { force: true });
      }
    }

    // Release
    const paths = [...listed.keys()].sort();
    const lines = [
      `Origin: ${origin}`,
      `Label: ${label}`,
      `Suite: ${suite}`,
      `Codename: ${codename}`,
      `Date: ${formatReleaseDate(date)}`,
      ...(opts.validUntil ? [`Valid-Until: ${formatReleaseDate(opts.validUntil)}`] : []),
      ...(opts.notAutomatic ? ['NotAutomatic: yes'] : []),
      ...(opts.butAutomaticUpgrades ? ['ButAutomaticUpgrades: yes'] : []),
      ...(byHash ? ['Acquire-By-Hash: yes'] : []),
      'No-Support-for-Architecture-all: Packages',
      `Architectures: ${archs.join(' ')}`,
      `Components: ${component}`,
      'Description: aptgate test repository',
      'MD5Sum:',
      ...paths.map((p) => ` ${listed.get(p)!.md5} ${String(listed.get(p)!.size).padStart(16)} ${p}`),
      'SHA256:',
      ...paths.map((p) => ` ${listed.get(p)!.sha256} ${String(listed.get(p)!.size).padStart(16)} ${p}`),
      '',
    ];
    const release = Buffer.from(lines.join('\n'), 'utf8');
    const [inRelease, releaseGpg] = await Promise.all([clearsign(key, release), detachSign(key, release)]);
    await writeAtomic(path.join(suiteDir, 'Release.gpg'), releaseGpg, date);
    await writeAtomic(path.join(suiteDir, 'Release'), release, date);
    await writeAtomic(path.join(suiteDir, 'InRelease'), inRelease, date);

    return {
      suite,
      inRelease,
      release,
      releaseGpg,
      date,
      files: new Map(paths.map((p) => [p, { size: listed.get(p)!.size, sha256: listed.get(p)!.sha256 }])),
      debs: entries.map((e) => ({
        name: e.name,
        version: e.version,
        arch: e.arch,
        filename: e.filename,
        size: e.size,
        sha256: e.sha256,
      })),
    };
  }

  private async readPreviousDate(suiteDir: string): Promise<number | undefined> {
    try {
      const text = await readFile(path.join(suiteDir, 'Release'), 'utf8');
      const m = /^Date:\s*(.+)$/m.exec(text);
      const t = m ? Date.parse(m[1]!.replace(/UTC$/, 'GMT')) : NaN;
      return Number.isNaN(t) ? undefined : t;
    } catch {
      return undefined;
    }
  }

  private poolDir(component: string, source: string): string {
    return path.join('pool', component, poolPrefix(source), source);
  }

  private async poolFromSpec(spec: DebSpec, component: string): Promise<PoolEntry> {
    const arch = spec.arch ?? 'amd64';
    const relDir = this.poolDir(component, spec.source ?? spec.name);
    const rel = path.join(relDir, debFileName(spec.name, spec.version, arch));
    const abs = path.join(this.root, rel);
    if (!(await exists(abs))) {
      const tmpDir = await mkdtemp(path.join(this.root, '.build-'));
      try {
        const built = await buildDeb(spec, tmpDir);
        await mkdir(path.dirname(abs), { recursive: true });
        await rename(built, abs);
      } finally {
        await rm(tmpDir, { recursive: true, force: true });
      }
    }
    return this.poolEntry(rel);
  }

  private async poolFromDeb(deb: string, component: string): Promise<PoolEntry> {
    const control = await readDebControl(deb);
    const name = field(control, 'Package');
    const version = field(control, 'Version');
    const arch = field(control, 'Architecture');
    if (!name || !version || !arch) throw new Error(`${deb}: missing Package/Version/Architecture`);
    const source = (field(control, 'Source') ?? name).split(/\s+/)[0]!;
    const rel = path.join(this.poolDir(component, source), debFileName(name, version, arch));
    const abs = path.join(this.root, rel);
    if (!(await exists(abs))) {
      await mkdir(path.dirname(abs), { recursive: true });
      const tmp = tmpName(abs);
      await copyFile(deb, tmp);
      await rename(tmp, abs);
    }
    return this.poolEntry(rel);
  }

  private async poolEntry(rel: string): Promise<PoolEntry> {
    const abs = path.join(this.root, rel);
    const st = await stat(abs);
    const stamp = `${st.size}:${st.mtimeMs}:${st.ino}`;
    const cached = this.hashCache.get(rel);
    if (cached && cached.stamp === stamp) return cached.entry;
    const [control, hashes] = await Promise.all([readDebControl(abs), hashFile(abs)]);
    const name = field(control, 'Package');
    const version = field(control, 'Version');
    const arch = field(control, 'Architecture');
    if (!name || !version || !arch) throw new Error(`${abs}: missing Package/Version/Architecture`);
    const entry: PoolEntry = { ...hashes, control, name, version, arch, filename: rel.split(path.sep).join('/') };
    this.hashCache.set(rel, { stamp, entry });
    return entry;
  }
}
