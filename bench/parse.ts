// `npm run bench:parse`: aptgate's streaming deb822 parser against npm debian-control on the
// real bookworm main amd64 Packages index. Every timed run is its own child process
// (node dist/bench/parse.js --child MODE FILE [CHUNK]); the parent prints a table and appends
// it to bench/RESULTS.md.
//
// Environment: BENCH_RUNS (default 5), BENCH_NO_RESULTS=1 leaves RESULTS.md alone,
// BENCH_KEEP=1 keeps bench/work/parse.
import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, existsSync, mkdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import { Deb822Parser } from '../src/index/deb822.js';
import { PACKAGES_FIELDS, toPackageEntry } from '../src/index/packages.js';
import { runIndexJob } from '../src/proxy/index-job.js';
import { openDb } from '../src/state/db.js';
import { PackageIndexStore } from '../src/state/package-index.js';
import { openDecompressed } from '../src/sys/decompress.js';
import {
  REPO,
  appendResults,
  commandOutput,
  machineFacts,
  mdTable,
  median,
  procStatusKb,
  textTable,
  today,
} from './common.js';

const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const WORK = join(REPO, 'bench', 'work', 'parse');
const SHARED_XZ = resolve(
  REPO,
  '..',
  'shared',
  'data',
  'debian-archive',
  'debian',
  'dists',
  'bookworm',
  'main',
  'binary-amd64',
  'Packages.xz',
);
const REMOTE_XZ = 'http://deb.debian.org/debian/dists/bookworm/main/binary-amd64/Packages.xz';
const SPLIT_CHUNK = 4093;
/** the bookworm index has few non-ASCII bytes: 4093-byte chunks split about one character, 61-byte ones dozens */
const SPLIT_CHUNK_SMALL = 61;
const SAMPLE_EVERY = 1000;
/** read size of the timed runs: what aptgate's openDecompressed uses for plain files */
const READ_CHUNK = 256 * 1024;

type Mode = 'aptgate' | 'aptgate-all' | 'dc-para' | 'dc-line' | 'aptgate-xz' | 'aptgate-index';

interface Sample {
  i: number;
  package: string;
  version: string;
  sha256: string;
}

interface ChildResult {
  mode: Mode;
  ms: number;
  paragraphs: number;
  entries: number;
  /** paragraphs whose text contains U+FFFD */
  replacement: number;
  hwmMb: number;
  samples: Sample[];
}

// ---- child side -----------------------------------------------------------------------------------

interface DebianControl {
  parse(text: string): Record<string, string | string[]>;
  ParagraphStream: new () => Transform;
  LineStream: new () => Transform;
}

function one(v: string | string[] | undefined): string {
  return Array.isArray(v) ? v.join('\n') : (v ?? '');
}

async function child(mode: Mode, file: string, chunk: number): Promise<ChildResult> {
  const r: ChildResult = { mode, ms: 0, paragraphs: 0, entries: 0, replacement: 0, hwmMb: 0, samples: [] };
  const sample = (p: { package: string; version: string; sha256: string }) => {
    if (r.paragraphs % SAMPLE_EVERY === 0) r.samples.push({ i: r.paragraphs, ...p });
    r.paragraphs++;
  };
  const t0 = performance.now();
  switch (mode) {
    case 'aptgate':
    case 'aptgate-all':
    case 'aptgate-xz': {
      const fields = mode === 'aptgate-all' ? undefined : PACKAGES_FIELDS;
      const parser = new Deb822Parser(
        (p) => {
          if (mode === 'aptgate-all') {
            for (const k in p)
              if (p[k]!.includes('\uFFFD')) {
                r.replacement++;
                break;
              }
          }
          if (toPackageEntry(p)) r.entries++;
          sample({ package: p['package'] ?? '', version: p['version'] ?? '', sha256: p['sha256'] ?? '' });
        },
        fields ? { fields } : {},
      );
      let stream: Readable;
      if (mode === 'aptgate-xz') {
        stream = openDecompressed(file, 'xz');
      } else {
        stream = createReadStream(file, { highWaterMark: chunk });
      }
      for await (const c of stream) parser.write(c as Buffer);
      parser.end();
      break;
    }
    case 'aptgate-index': {
      const dbFile = join(WORK, `index-${process.pid}.db`);
      rmSync(dbFile, { force: true });
      const db = openDb(dbFile);
      try {
        const fileSha256 = createHash('sha256').update(readFileSync(file)).digest('hex');
        const t1 = performance.now();
        const res = await runIndexJob(new PackageIndexStore(db), {
          backend: 'debian',
          file,
          compression: 'xz',
          fileSha256,
          plainSha256: undefined,
          link: undefined,
        });
        r.ms = performance.now() - t1;
        r.entries = res.entries;
        r.paragraphs = res.entries;
      } finally {
        db.close();
        for (const sfx of ['', '-wal', '-shm']) rmSync(dbFile + sfx, { force: true });
      }
      r.hwmMb = (procStatusKb(process.pid, 'VmHWM') ?? 0) / 1024;
      return r;
    }
    case 'dc-para':
    case 'dc-line': {
      const dc = createRequire(import.meta.url)('debian-control') as DebianControl;
      const paras = new dc.ParagraphStream();
      paras.on('data', (b: Buffer) => {
        const text = b.toString();
        if (text.includes('\uFFFD')) r.replacement++;
        const o = dc.parse(text);
        if (o['Package'] && o['Version'] && o['Filename'] && o['SHA256']) r.entries++;
        sample({ package: one(o['Package']), version: one(o['Version']), sha256: one(o['SHA256']) });
      });
      const src = createReadStream(file, { highWaterMark: chunk });
      if (mode === 'dc-line') await pipeline(src, new dc.LineStream(), paras);
      else await pipeline(src, paras);
      break;
    }
  }
  r.ms = performance.now() - t0;
  r.hwmMb = (procStatusKb(process.pid, 'VmHWM') ?? 0) / 1024;
  return r;
}

// ---- parent side ----------------------------------------------------------------------------------

function runChild(mode: Mode, file: string, chunk: number): Promise<ChildResult> {
  return new Promise((res, rej) => {
    const c = spawn(process.execPath, [fileURLToPath(import.meta.url), '--child', mode, file, String(chunk)], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    c.stdout.on('data', (d: Buffer) => {
      out += d.toString();
    });
    c.on('error', rej);
    c.on('close', (code) => {
      const m = /PARSEJSON (\{.*\})/.exec(out);
      if (code !== 0 || !m) rej(new Error(`child ${mode} exited ${code}: ${out.slice(0, 500)}`));
      else res(JSON.parse(m[1]!) as ChildResult);
    });
  });
}

async function obtainXz(): Promise<{ file: string; source: string }> {
  if (existsSync(SHARED_XZ)) return { file: SHARED_XZ, source: '../shared/data/debian-archive (as published)' };
  const file = join(WORK, 'Packages.xz');
  if (!existsSync(file)) {
    process.stderr.write(`bench: downloading ${REMOTE_XZ}\n`);
    const res = await fetch(REMOTE_XZ);
    if (!res.ok || !res.body) throw new Error(`${REMOTE_XZ}: HTTP ${res.status}`);
    await pipeline(Readable.fromWeb(res.body as import('node:stream/web').ReadableStream), createWriteStream(file));
  }
  return { file, source: REMOTE_XZ };
}

function decompress(xz: string, out: string): number {
  const t0 = performance.now();
  execFileSync('sh', ['-c', 'xz -dc -- "$1" > "$2"', 'sh', xz, out]);
  return performance.now() - t0;
}

/** Paragraphs of the whole file decoded at once: the truth for the U+FFFD and count checks. */
function splitBoundaries(bytes: Buffer, chunk: number): number {
  // chunk boundaries that fall inside a multi-byte character (the next byte is a continuation byte)
  let n = 0;
  for (let off = chunk; off < bytes.length; off += chunk) {
    if ((bytes[off]! & 0xc0) === 0x80) n++;
  }
  return n;
}

function wholeFileFacts(file: string): {
  paragraphs: number;
  nonAscii: number;
  replacement: number;
  splitBoundaries: number;
  splitBoundariesSmall: number;
} {
  const bytes = readFileSync(file);
  const text = bytes.toString('utf8');
  let paragraphs = 0;
  let nonAscii = 0;
  let replacement = 0;
  for (const p of text.split(/\n[ \t]*\n/)) {
    if (p.trim() === '') continue;
    paragraphs++;
    if (/[^\x00-\x7f]/.test(p)) nonAscii++;
    if (p.includes('\uFFFD')) replacement++;
  }
  return {
    paragraphs,
    nonAscii,
    replacement,
    splitBoundaries: splitBoundaries(bytes, SPLIT_CHUNK),
    splitBoundariesSmall: splitBoundaries(bytes, SPLIT_CHUNK_SMALL),
  };
}

const LABEL: Record<Mode, string> = {
  aptgate: 'aptgate Deb822Parser, PACKAGES_FIELDS + toPackageEntry',
  'aptgate-all': 'aptgate Deb822Parser, all fields',
  'dc-para': 'debian-control ParagraphStream + parse()',
  'dc-line': 'debian-control LineStream → ParagraphStream → parse()',
  'aptgate-xz': 'aptgate full path: xz child process → Deb822Parser + toPackageEntry',
  'aptgate-index': 'aptgate runIndexJob: xz → parser → SQLite package index (fresh DB)',
};

async function main(): Promise<void> {
  const t0 = Date.now();
  mkdirSync(WORK, { recursive: true });
  const { file: xz, source } = await obtainXz();
  const plain = join(WORK, 'Packages');
  const xzMs = decompress(xz, plain);
  const plainSize = statSync(plain).size;
  const xzSize = statSync(xz).size;
  process.stderr.write(
    `bench: ${source}: ${(xzSize / 1048576).toFixed(1)} MB xz → ${(plainSize / 1048576).toFixed(1)} MB in ${xzMs.toFixed(0)} ms (xz -dc)\n`,
  );
  const truth = wholeFileFacts(plain);
  process.stderr.write(
    `bench: ${truth.paragraphs} paragraphs, ${truth.nonAscii} with non-ASCII text, ${truth.replacement} with U+FFFD when decoded whole; chunk boundaries inside a character: ${truth.splitBoundaries} with ${SPLIT_CHUNK}-byte chunks, ${truth.splitBoundariesSmall} with ${SPLIT_CHUNK_SMALL}-byte chunks\n`,
  );

  const modes: Mode[] = ['aptgate', 'aptgate-all', 'dc-para', 'dc-line', 'aptgate-xz', 'aptgate-index'];
  const runs = new Map<Mode, ChildResult[]>();
  for (let i = 0; i < RUNS; i++) {
    // interleaved, so a slow moment of the machine does not land on one parser only
    for (const mode of modes) {
      const r = await runChild(mode, mode === 'aptgate-xz' || mode === 'aptgate-index' ? xz : plain, READ_CHUNK);
      runs.set(mode, [...(runs.get(mode) ?? []), r]);
      process.stderr.write(
        `bench:   run ${i + 1} ${mode}: ${r.ms.toFixed(0)} ms, ${r.paragraphs} paragraphs, VmHWM ${r.hwmMb.toFixed(1)} MB\n`,
      );
    }
  }
  const split = new Map<Mode, ChildResult>();
  const splitSmall = new Map<Mode, ChildResult>();
  for (const mode of ['aptgate-all', 'dc-para', 'dc-line'] as const) {
    for (const [size, into] of [
      [SPLIT_CHUNK, split],
      [SPLIT_CHUNK_SMALL, splitSmall],
    ] as const) {
      const r = await runChild(mode, plain, size);
      into.set(mode, r);
      process.stderr.write(
        `bench:   ${size}-byte chunks ${mode}: ${r.replacement} paragraphs with U+FFFD, ${r.paragraphs} paragraphs\n`,
      );
      if (r.paragraphs !== truth.paragraphs)
        throw new Error(`${mode} found ${r.paragraphs} paragraphs with ${size}-byte chunks, not ${truth.paragraphs}`);
    }
  }

  // ---- correctness: same paragraphs, same Package/Version/SHA256 at every 1000th
  const ref = runs.get('aptgate')![0]!;
  const checks: string[] = [];
  for (const mode of ['aptgate-all', 'dc-para', 'dc-line', 'aptgate-xz'] as const) {
    const other = runs.get(mode)![0]!;
    let differ = 0;
    const n = Math.min(ref.samples.length, other.samples.length);
    const firstDiff: string[] = [];
    for (let i = 0; i < n; i++) {
      const a = ref.samples[i]!;
      const b = other.samples[i]!;
      if (a.package !== b.package || a.version !== b.version || a.sha256.toLowerCase() !== b.sha256.toLowerCase()) {
        differ++;
        if (firstDiff.length < 2) firstDiff.push(`#${a.i}: ${a.package} ${a.version} vs ${b.package} ${b.version}`);
      }
    }
    const same = other.paragraphs === ref.paragraphs && ref.samples.length === other.samples.length && differ === 0;
    checks.push(
      `- ${LABEL[mode]} vs aptgate: ${other.paragraphs} vs ${ref.paragraphs} paragraphs; ${n} samples (every ${SAMPLE_EVERY}th), ${differ} differ in Package/Version/SHA256${firstDiff.length ? ` (${firstDiff.join('; ')})` : ''} → ${same ? 'agree' : 'DISAGREE'}`,
    );
  }
  checks.push(
    `- whole-file decode: ${truth.paragraphs} paragraphs (aptgate found ${ref.paragraphs}, ${ref.entries} of them complete package entries)`,
  );

  // ---- table
  const base = median(runs.get('aptgate')!.map((r) => r.ms));
  const dcLine = median(runs.get('dc-line')!.map((r) => r.ms));
  const head = [
    'parser',
    'median ms',
    'min–max ms',
    'MB/s',
    'paragraphs',
    `U+FFFD paragraphs, ${SPLIT_CHUNK} B / ${SPLIT_CHUNK_SMALL} B chunks`,
    'peak RSS MB',
    'vs aptgate',
    'vs dc LineStream',
  ];
  const rows = modes.map((mode) => {
    const rs = runs.get(mode)!;
    const ms = median(rs.map((r) => r.ms));
    const sp = split.get(mode);
    const spSmall = splitSmall.get(mode);
    return [
      LABEL[mode],
      ms.toFixed(0),
      `${Math.min(...rs.map((r) => r.ms)).toFixed(0)}–${Math.max(...rs.map((r) => r.ms)).toFixed(0)}`,
      (plainSize / 1048576 / (ms / 1000)).toFixed(0),
      String(rs[0]!.paragraphs),
      sp && spSmall ? `${sp.replacement} / ${spSmall.replacement}` : mode === 'aptgate' ? '(see all fields)' : '—',
      median(rs.map((r) => r.hwmMb)).toFixed(1),
      `${(ms / base).toFixed(2)}×`,
      `${(ms / dcLine).toFixed(2)}×`,
    ];
  });
  const elapsed = (Date.now() - t0) / 1000;
  process.stdout.write(`\n${textTable(head, rows)}\n\n${checks.join('\n')}\n`);

  const m = machineFacts();
  const dcVersion = (createRequire(import.meta.url)('debian-control/package.json') as { version: string }).version;
  const speedup = dcLine / base;
  const paraSpeed = median(runs.get('dc-para')!.map((r) => r.ms)) / base;
  const section = `## ${today()} — bench:parse

- Machine: ${m.cpu}, ${m.cores} cores, ${m.memGiB} GiB RAM, Linux ${m.kernel}
- Versions: Node ${process.version}; debian-control ${dcVersion}; ${commandOutput('xz', ['--version']).split('\n')[0]}; aptgate at ${commandOutput('git', ['-C', REPO, 'rev-parse', '--short', 'HEAD'])} (plus the working tree)
- Command: \`npm run bench:parse\` (= \`tsc -p . && node dist/bench/parse.js\`); whole run ${elapsed.toFixed(0)} s
- Input: bookworm main binary-amd64 Packages.xz from ${source}, ${(xzSize / 1048576).toFixed(1)} MB, decompressed once with \`xz -dc\` (${xzMs.toFixed(0)} ms) to ${(plainSize / 1048576).toFixed(1)} MB, ${truth.paragraphs} paragraphs (${truth.nonAscii} contain non-ASCII text).
- Method: ${RUNS} runs per parser, each in its own child process, parsers interleaved; time from the first read to the last paragraph (module loading excluded); files read with ${READ_CHUNK / 1024} KiB chunks; MB/s of uncompressed text; peak RSS = VmHWM of the child (median). The "U+FFFD" column feeds the file in ${SPLIT_CHUNK}-byte and in ${SPLIT_CHUNK_SMALL}-byte chunks, so multi-byte UTF-8 characters get split across chunks, and counts paragraphs whose text then contains U+FFFD (0 is right: the file has none). The index holds few non-ASCII bytes, so only ${truth.splitBoundaries} of the ${SPLIT_CHUNK}-byte boundaries and ${truth.splitBoundariesSmall} of the ${SPLIT_CHUNK_SMALL}-byte ones fall inside a character: a parser that decodes chunk by chunk damages about that many paragraphs. For aptgate that is the all-fields parser (the Packages field set drops Description and Maintainer, where the non-ASCII text is).

${mdTable(head, rows)}

Correctness:
${checks.join('\n')}

Interpretation: aptgate's parser reads the index ${speedup.toFixed(1)}× faster than debian-control's UTF-8-safe pipeline (LineStream → ParagraphStream → parse) and ${paraSpeed.toFixed(1)}× faster than ParagraphStream alone, which also damages every paragraph in which a chunk boundary splits a UTF-8 character (${split.get('dc-para')!.replacement} with ${SPLIT_CHUNK}-byte chunks, ${splitSmall.get('dc-para')!.replacement} with ${SPLIT_CHUNK_SMALL}-byte chunks) (it calls \`chunk.toString()\` per chunk); aptgate's StringDecoder and debian-control's LineStream keep them whole. Keeping only the Packages fields (the index's use) takes ${(base / median(runs.get('aptgate-all')!.map((r) => r.ms))).toFixed(2)}× the time of keeping every field. The streaming path from Packages.xz (xz child process → parser) takes ${median(runs.get('aptgate-xz')!.map((r) => r.ms)).toFixed(0)} ms against ${xzMs.toFixed(0)} ms for \`xz -dc\` alone, so decompression sets its pace (xz runs on the other core); the full runIndexJob into a fresh SQLite database takes ${median(runs.get('aptgate-index')!.map((r) => r.ms)).toFixed(0)} ms, i.e. the inserts cost about ${(median(runs.get('aptgate-index')!.map((r) => r.ms)) - median(runs.get('aptgate-xz')!.map((r) => r.ms))).toFixed(0)} ms more than parsing.
`;
  if (process.env.BENCH_NO_RESULTS === '1')
    process.stderr.write(`bench: not written to bench/RESULTS.md (BENCH_NO_RESULTS=1); ${elapsed.toFixed(0)} s\n`);
  else {
    appendResults(section);
    process.stderr.write(`bench: appended to bench/RESULTS.md; ${elapsed.toFixed(0)} s\n`);
  }
}

if (process.argv[2] === '--child') {
  const [, , , mode, file, chunk] = process.argv;
  const r = await child(mode as Mode, file!, Number(chunk ?? READ_CHUNK));
  process.stdout.write(`PARSEJSON ${JSON.stringify(r)}\n`);
} else {
  let failed = false;
  try {
    await main();
  } catch (err) {
    failed = true;
    process.stderr.write(`bench:parse failed: ${(err as Error).stack ?? String(err)}\n`);
  } finally {
    if (process.env.BENCH_KEEP !== '1') rmSync(WORK, { recursive: true, force: true });
  }
  process.exit(failed ? 1 : 0);
}
