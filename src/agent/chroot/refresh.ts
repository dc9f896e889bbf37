// After a job that changed a chroot's kernel or initramfs, the boot files clients use must follow:
// modern LTSP's `ltsp image <name>` (which also runs `ltsp kernel`) when the chroot is served as
// an image, `ltsp kernel <name>` when clients boot the chroot directly; LTSP 5's
// ltsp-update-kernels and ltsp-update-image. Or what the configuration says, or nothing.
import { access, constants, lstat, readdir } from 'node:fs/promises';
import path from 'node:path';
import { pathExists } from '../../sys/fs.js';
import type { Command } from '../target.js';
import { resolveIn } from './paths.js';

/** `auto`, `none`, or a command (argv; {name} and {path} are replaced). */
export type RefreshSetting = 'auto' | 'none' | string[];

const BOOT_RE = /^(?:vmlinu[xz]|initrd\.img|initramfs|System\.map)/;

/** Name, size and time of every kernel and initramfs file in the chroot's /boot (and / links). */
export async function bootState(root: string): Promise<string> {
  const out: string[] = [];
  for (const rel of ['boot', '']) {
    const dir = await resolveIn(root, rel);
    for (const n of (await readdir(dir).catch(() => [] as string[])).sort()) {
      if (!BOOT_RE.test(n)) continue;
      const st = await lstat(path.join(dir, n)).catch(() => undefined);
      if (st) out.push(`${rel}/${n} ${st.size} ${st.mtimeMs}`);
    }
  }
  return out.join('\n');
}

/** The program's path in $PATH, or undefined. */
export async function which(program: string, pathVar = process.env['PATH'] ?? ''): Promise<string | undefined> {
  for (const d of pathVar.split(':').filter((x) => x.startsWith('/'))) {
    const p = path.join(d, program);
    if (
      await access(p, constants.X_OK).then(
        () => true,
        () => false,
      )
    )
      return p;
  }
  return undefined;
}

function env(): Record<string, string> {
  return {
    PATH: process.env['PATH'] ?? '/usr/sbin:/usr/bin:/sbin:/bin',
    HOME: process.env['HOME'] ?? '/root',
    LC_ALL: 'C.UTF-8',
    LANG: 'C.UTF-8',
  };
}

/** `--base-dir=` for modern LTSP when the chroot is not under its default /srv/ltsp. */
function baseArgs(chrootPath: string): string[] {
  const base = path.dirname(chrootPath);
  return base === '/srv/ltsp' ? [] : [`--base-dir=${base}`];
}

/** The commands a refresh runs for the chroot `name` at `chrootPath` (none: nothing to run, with why). */
export async function refreshCommands(
  setting: RefreshSetting,
  name: string,
  chrootPath: string,
): Promise<{ commands: Command[]; note: string }> {
  if (setting === 'none') return { commands: [], note: 'refresh disabled (chroot_refresh = none)' };
  if (Array.isArray(setting)) {
    const [file, ...args] = setting.map((a) => a.replace(/\{name\}/g, name).replace(/\{path\}/g, chrootPath));
    return { commands: [{ file: file!, args, env: env() }], note: 'configured refresh' };
  }
  const ltsp = await which('ltsp');
  if (ltsp) {
    const image = path.join(path.dirname(chrootPath), 'images', `${name}.img`);
    const applet = (await pathExists(image)) ? 'image' : 'kernel';
    return {
      commands: [{ file: ltsp, args: [...baseArgs(chrootPath), applet, name], env: env() }],
      note: applet === 'image' ? `modern LTSP, ${image} exists` : 'modern LTSP, clients boot the chroot directly',
    };
  }
  const kernels = await which('ltsp-update-kernels');
  if (kernels) {
    const commands: Command[] = [{ file: kernels, args: [], env: env() }];
    const updateImage = await which('ltsp-update-image');
    if (updateImage && (await pathExists(path.join(path.dirname(chrootPath), 'images', `${name}.img`))))
      commands.push({ file: updateImage, args: [name], env: env() });
    return { commands, note: 'LTSP 5' };
  }
  return { commands: [], note: 'no LTSP tools found (ltsp, ltsp-update-kernels): nothing refreshed' };
}

/** `ltsp image -r <name>`: the previous image back, when modern LTSP kept one. */
export async function revertCommand(name: string, chrootPath: string): Promise<{ command?: Command; error?: string }> {
  const ltsp = await which('ltsp');
  if (!ltsp) return { error: 'image-revert needs modern LTSP (`ltsp image -r`), which is not installed here' };
  const old = path.join(path.dirname(chrootPath), 'images', `${name}.img.old`);
  if (!(await pathExists(old))) return { error: `there is no previous image to go back to (${old})` };
  return { command: { file: ltsp, args: [...baseArgs(chrootPath), 'image', '-r', name], env: env() } };
}
