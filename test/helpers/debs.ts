/**
 * Real .deb files built with dpkg-deb (no mocks), and control-file parsing.
 */
import { createCipheriv, createHash } from 'node:crypto';
import { mkdtemp, mkdir, writeFile, chmod, rm, stat, symlink } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { execOk } from './exec.js';

export interface DebSpec {
  name: string;
  version: string;
  /** default 'amd64'; 'all' allowed */
  arch?: string;
  /**
   * adds /usr/share/<name>/payload.bin of that many pseudo-random (incompressible, but deterministic
   * per name/version/arch/size) bytes; such debs are built with `dpkg-deb -Znone` so the .deb is about
   * that size
   */
  payloadBytes?: number;
  depends?: string;
  multiArch?: string;
  source?: string;
  /** default 'misc' */
  section?: string;
  /** synopsis, optionally followed by '\n' and an extended description; default '<name> test package' */
  description?: string;
  /** further control fields (Recommends, Breaks, Provides, Phased-Update-Percentage, ...) */
  fields?: Record<string, string>;
  /** a postinst maintainer script (its text, with its #! line) */
  postinst?: string;
  /** a preinst maintainer script (its text, with its #! line) */
  preinst?: string;
  /**
   * /usr/share/doc/<name>/changelog.Debian.gz: a string is gzipped, a Buffer is shipped as it is
   * (gzip bytes, or hostile ones)
   */
  changelog?: string | Buffer;
  /** /usr/share/doc/<name>/changelog.Debian.<arch>.gz (a binNMU's entries), as `changelog` */
  binnmuChangelog?: string | Buffer;
  /** makes /usr/share/doc/<name> a symlink to this target (libfoo-dev → libfoo) instead of a directory */
  docLink?: string;
}

/** Fixed timestamp for the files inside built debs (SOURCE_DATE_EPOCH), so rebuilding a spec gives identical bytes. */
const SOURCE_DATE_EPOCH = '1700000000';
export const TEST_MAINTAINER = 'Aptgate Tests <test@aptgate.invalid>';

const NAME_RE = /^[a-z0-9][a-z0-9+.-]+$/;
const VERSION_RE = /^(?:[0-9]+:)?[0-9][A-Za-z0-9.+~:-]*$/;

export function versionWithoutEpoch(version: string): string {
  const i = version.indexOf(':');
  return i >= 0 ? version.slice(i + 1) : version;
}

export function debFileName(name: string, version: string, arch: string): string {
  return `${name}_${versionWithoutEpoch(version)}_${arch}.deb`;
}

/** Deterministic incompressible bytes (AES-256-CTR keystream keyed by `seed`). */
export function pseudoRandomBytes(seed: string, size: number): Buffer {
  const key = createHash('sha256').update(seed).digest();
  const cipher = createCipheriv('aes-256-ctr', key, Buffer.alloc(16));
  return Buffer.concat([cipher.update(Buffer.alloc(size)), cipher.final()]);
}

/** Formats a multi-line field value for a control file ('\n'-separated lines; empty lines become ' .'). */
function formatMultiline(value: string): string {
  const [first, ...rest] = value.split('\n');
  return [first, ...rest.map((l) => (l.trim() === '' ? ' .' : ` ${l}`))].join('\n');
}

/**
 * Builds a real binary package with `dpkg-deb --build --root-owner-group` into outDir (created if
 * needed) and returns the path of `${name}_${versionWithoutEpoch}_${arch}.deb`.
 */
export async function buildDeb(spec: DebSpec, outDir: string): Promise<string> {
  const arch = spec.arch ?? 'amd64';
  if (!NAME_RE.test(spec.name)) throw new Error(`invalid package name ${JSON.stringify(spec.name)}`);
  if (!VERSION_RE.test(spec.version)) throw new Error(`invalid version ${JSON.stringify(spec.version)}`);
  if (!/^[a-z0-9][a-z0-9-]*$/.test(arch)) throw new Error(`invalid architecture ${JSON.stringify(arch)}`);
  if (spec.payloadBytes !== undefined && (!Number.isInteger(spec.payloadBytes) || spec.payloadBytes < 0)) {
    throw new Error(`invalid payloadBytes ${spec.payloadBytes}`);
  }
  await mkdir(outDir, { recursive: true });
  const out = path.join(path.resolve(outDir), debFileName(spec.name, spec.version, arch));
  const stage = await mkdtemp(path.join(os.tmpdir(), 'aptgate-deb-'));
  try {
    await chmod(stage, 0o755);
    const shareDir = path.join(stage, 'usr', 'share', spec.name);
    const docDir = path.join(stage, 'usr', 'share', 'doc', spec.name);
    await mkdir(shareDir, { recursive: true, mode: 0o755 });
    if (spec.docLink === undefined) await mkdir(docDir, { recursive: true, mode: 0o755 });
    else {
      await mkdir(path.dirname(docDir), { recursive: true, mode: 0o755 });
      await symlink(spec.docLink, docDir);
    }
    let bytes = 0;
    let files = 0;
    const addFile = async (p: string, data: Buffer | string) => {
      await writeFile(p, data, { mode: 0o644 });
      await chmod(p, 0o644);
      bytes += Buffer.byteLength(data);
      files++;
    };
    const gz = (t: string | Buffer) => (typeof t === 'string' ? gzipSync(t, { level: 9 }) : t);
    if (spec.docLink === undefined) {
      await addFile(path.join(docDir, 'README'), `${spec.name} ${spec.version} (${arch}): aptgate test package\n`);
      if (spec.changelog !== undefined) await addFile(path.join(docDir, 'changelog.Debian.gz'), gz(spec.changelog));
      if (spec.binnmuChangelog !== undefined) {
        await addFile(path.join(docDir, `changelog.Debian.${arch}.gz`), gz(spec.binnmuChangelog));
      }
    }
    if (spec.payloadBytes !== undefined) {
      await addFile(
        path.join(shareDir, 'payload.bin'),
        pseudoRandomBytes(`${spec.name}/${spec.version}/${arch}/${spec.payloadBytes}`, spec.payloadBytes),
      );
    }
    const installedSize = Math.ceil(bytes / 1024) + files + 5; // rough du -k of the tree

    const fields: Array<[string, string | undefined]> = [
      ['Package', spec.name],
      ['Source', spec.source],
      ['Version', spec.version],
      ['Architecture', arch],
      ['Multi-Arch', spec.multiArch],
      ['Maintainer', TEST_MAINTAINER],
      ['Installed-Size', String(installedSize)],
      ['Depends', spec.depends],
      ...Object.entries(spec.fields ?? {}),
      ['Section', spec.section ?? 'misc'],
      ['Priority', 'optional'],
      ['Description', formatMultiline(spec.description ?? `${spec.name} test package`)],
    ];
    const control = fields
      .filter(([, v]) => v !== undefined && v !== '')
      .map(([k, v]) => `${k}: ${v}\n`)
      .join('');
    const debian = path.join(stage, 'DEBIAN');
    await mkdir(debian, { mode: 0o755 });
    await chmod(debian, 0o755);
    await writeFile(path.join(debian, 'control'), control, { mode: 0o644 });
    await chmod(path.join(debian, 'control'), 0o644);
    for (const [script, text] of [
      ['preinst', spec.preinst],
      ['postinst', spec.postinst],
    ] as const) {
      if (text === undefined) continue;
      await writeFile(path.join(debian, script), text, { mode: 0o755 });
      await chmod(path.join(debian, script), 0o755);
    }

    const args = ['--build', '--root-owner-group'];
    if (spec.payloadBytes !== undefined) args.push('-Znone');
    args.push(stage, out);
    await execOk('dpkg-deb', args, { env: { ...process.env, SOURCE_DATE_EPOCH, LC_ALL: 'C' }, timeoutMs: 120_000 });
    await stat(out);
    return out;
  } finally {
    await rm(stage, { recursive: true, force: true });
  }
}

/** An ordered list of control fields; values keep their continuation lines ('\n' + ' ...'). */
export type ControlFields = Array<[string, string]>;

/** Parses one deb822 paragraph (the first one in text). */
export function parseControl(text: string): ControlFields {
  const fields: ControlFields = [];
  for (const line of text.split('\n')) {
    if (line === '') {
      if (fields.length > 0) break;
      continue;
    }
    if (line.startsWith('#')) continue;
    if (line.startsWith(' ') || line.startsWith('\t')) {
      const last = fields[fields.length - 1];
      if (!last) throw new Error(`continuation line without a field: ${JSON.stringify(line)}`);
      last[1] += `\n${line}`;
      continue;
    }
    const m = /^([^:\s]+):[ \t]*(.*)$/.exec(line);
    if (!m) throw new Error(`malformed control line: ${JSON.stringify(line)}`);
    fields.push([m[1]!, m[2]!.trimEnd()]);
  }
  return fields;
}

/** Parses every paragraph of a deb822 file (Packages, Release, ...). */
export function parseControlParagraphs(text: string): ControlFields[] {
  return text
    .split(/\n[ \t]*\n/)
    .filter((p) => p.trim() !== '')
    .map((p) => parseControl(p));
}

/** Case-insensitive field lookup. */
export function field(fields: ControlFields, name: string): string | undefined {
  const lower = name.toLowerCase();
  return fields.find(([k]) => k.toLowerCase() === lower)?.[1];
}

/** The control file of a .deb (`dpkg-deb -f deb`). */
export async function readDebControl(deb: string): Promise<ControlFields> {
  const out = await execOk('dpkg-deb', ['-f', deb], { env: { ...process.env, LC_ALL: 'C' }, timeoutMs: 60_000 });
  return parseControl(out.toString('utf8'));
}
