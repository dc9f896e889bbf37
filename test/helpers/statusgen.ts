/**
 * Generated dpkg status files over a real Packages index: a seeded random choice of packages
 * plus what they depend on, installed at older, equal and newer versions, some held, some
 * only unpacked, some removed with their configuration files kept.
 */
import { Deb822Parser, type Paragraph } from '../../src/index/deb822.js';
import { parseRelations } from '../../src/index/relations.js';
import { execOk } from './exec.js';

/** mulberry32: a small deterministic PRNG, so a failing seed can be replayed. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export async function readPackagesXz(file: string): Promise<Paragraph[]> {
  const out: Paragraph[] = [];
  const p = new Deb822Parser((x) => out.push(x));
  p.write(await execOk('xz', ['-dc', file], { timeoutMs: 60_000 }));
  p.end();
  return out;
}

export type Variant = 'older' | 'same' | 'newer' | 'config-files' | 'unpacked' | 'hold';

export interface GeneratedStatus {
  text: string;
  variants: Map<string, Variant>;
}

/**
 * `picks` random packages of `index` (plus their dependency closure), each installed as one of
 * the variants. Installed relations are kept consistent: each Depends group is reduced to the
 * alternative that is installed, without version, and no Breaks/Conflicts are recorded.
 */
export function generateStatus(index: readonly Paragraph[], picks: number, seed: number): GeneratedStatus {
  const rand = prng(seed);
  const byName = new Map<string, Paragraph>();
  for (const p of index) if (!byName.has(p['package']!)) byName.set(p['package']!, p);
  const names = [...byName.keys()].sort();
  const chosen = new Map<string, string[]>(); // name -> reduced depends groups
  const queue: string[] = [];
  for (let i = 0; i < picks; i++) queue.push(names[Math.floor(rand() * names.length)]!);
  while (queue.length) {
    const name = queue.pop()!;
    if (chosen.has(name)) continue;
    const p = byName.get(name)!;
    const groups: string[] = [];
    chosen.set(name, groups);
    for (const field of ['pre-depends', 'depends']) {
      for (const group of parseRelations(p[field])) {
        const alt = group.find((r) => byName.has(r.name) && (r.archQual === undefined || r.archQual === 'any'));
        if (!alt) continue;
        groups.push(alt.name);
        if (!chosen.has(alt.name)) queue.push(alt.name);
      }
    }
  }
  const weights: Array<[Variant, number]> = [
    ['older', 0.55],
    ['same', 0.2],
    ['newer', 0.05],
    ['config-files', 0.05],
    ['unpacked', 0.05],
    ['hold', 0.1],
  ];
  const variants = new Map<string, Variant>();
  const paragraphs: string[] = [];
  for (const name of [...chosen.keys()].sort()) {
    const p = byName.get(name)!;
    let r = rand();
    let variant: Variant = 'same';
    for (const [v, w] of weights) {
      if (r < w) {
        variant = v;
        break;
      }
      r -= w;
    }
    // a package others depend on must stay installed: config-files only for leaves is not
    // tracked here, so removed packages keep their dependents' groups out
    variants.set(name, variant);
    const version =
      variant === 'older' ? `${p['version']}~aptgate1` : variant === 'newer' ? `${p['version']}+local1` : p['version']!;
    const status =
      variant === 'config-files'
        ? 'deinstall ok config-files'
        : variant === 'unpacked'
          ? 'install ok unpacked'
          : variant === 'hold'
            ? 'hold ok installed'
            : 'install ok installed';
    const lines = [`Package: ${name}`, `Status: ${status}`, `Architecture: ${p['architecture']}`];
    if (p['multi-arch']) lines.push(`Multi-Arch: ${p['multi-arch']}`);
    if (p['source']) lines.push(`Source: ${p['source']}`);
    lines.push(`Version: ${version}`);
    if (p['provides']) lines.push(`Provides: ${p['provides']}`);
    const deps = chosen.get(name)!.filter((d) => d !== name);
    if (deps.length && variant !== 'config-files') lines.push(`Depends: ${[...new Set(deps)].join(', ')}`);
    lines.push(`Description: ${name}`);
    paragraphs.push(lines.join('\n'));
  }
  // removed packages (config-files) must not be depended on by installed ones
  const removed = new Set([...variants].filter(([, v]) => v === 'config-files').map(([n]) => n));
  const text =
    paragraphs
      .map((para) =>
        para
          .replace(/^Depends: (.*)$/m, (_m, deps: string) => {
            const kept = deps.split(', ').filter((d) => !removed.has(d));
            return kept.length ? `Depends: ${kept.join(', ')}` : '';
          })
          .replace(/\n\n/g, '\n'),
      )
      .join('\n\n') + '\n';
  return { text, variants };
}
