// The packages of a report, from the wire to checked lines ready to store: gunzip off the main
// thread and stopped at the size limit, the package count limited while the lines are split,
// the hash and every record checked in slices (a report never holds the event loop for long).
import { createHash } from 'node:crypto';
import { gunzip } from 'node:zlib';
import { AptgateError, fail } from '../errors.js';
import { parseRecordLine } from '../index/profile-record.js';
import type { CheckedPackages } from '../state/profiles.js';
import type { TimeSlicer } from '../sys/time-slice.js';

export interface ReportLimits {
  /** package instances in one report */
  maxPackages: number;
  /** bytes of the unpacked packages text */
  maxBytes: number;
}

const HASH_CHUNK = 1024 * 1024;

function tooMany(limits: ReportLimits): AptgateError {
  return new AptgateError(
    'REPORT_TOO_LARGE',
    `more than ${limits.maxPackages} packages in one report (fleet.report_max_packages)`,
  );
}
function tooBig(limits: ReportLimits): AptgateError {
  return new AptgateError(
    'REPORT_TOO_LARGE',
    `packages text larger than ${limits.maxBytes} bytes unpacked (fleet.report_max_bytes)`,
  );
}

/** gunzip on libuv's threads; it stops as soon as the output would pass the limit. */
export function gunzipLimited(b: Buffer, limits: ReportLimits): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    gunzip(b, { maxOutputLength: limits.maxBytes, chunkSize: 64 * 1024 }, (err, out) => {
      if (!err) return resolve(out);
      if ((err as Error & { code?: string }).code === 'ERR_BUFFER_TOO_LARGE' || err instanceof RangeError)
        return reject(tooBig(limits));
      reject(new AptgateError('RPC_INVALID_PARAMS', 'packages payload is not gzip data'));
    });
  });
}

/** The lines of a packages text (each ends in "\n"), at most maxPackages of them. */
async function splitLines(raw: Buffer, limits: ReportLimits, slicer: TimeSlicer): Promise<string[]> {
  if (!raw.length) return [];
  if (raw[raw.length - 1] !== 0x0a) fail('RPC_INVALID_PARAMS', 'packages text does not end with a newline');
  const lines: string[] = [];
  for (let pos = 0; pos < raw.length;) {
    const nl = raw.indexOf(0x0a, pos);
    if (lines.length === limits.maxPackages) throw tooMany(limits);
    lines.push(raw.toString('utf8', pos, nl));
    pos = nl + 1;
    if ((lines.length & 255) === 0) await slicer.tick();
  }
  return lines;
}

async function sha256OfBuffer(raw: Buffer, slicer: TimeSlicer): Promise<string> {
  const h = createHash('sha256');
  for (let i = 0; i < raw.length; i += HASH_CHUNK) {
    h.update(raw.subarray(i, i + HASH_CHUNK));
    await slicer.tick();
  }
  return h.digest('hex');
}

/** SHA-256 of the lines joined as a packages text (each followed by "\n"). */
async function sha256OfLines(lines: readonly string[], slicer: TimeSlicer): Promise<string> {
  const h = createHash('sha256');
  for (let i = 0; i < lines.length; i++) {
    h.update(lines[i]!);
    h.update('\n');
    if ((i & 255) === 255) await slicer.tick();
  }
  return h.digest('hex');
}

/** Names of the records, every field checked (lines come from the network); lines sorted and unique. */
async function checkRecords(
  lines: readonly string[],
  slicer: TimeSlicer,
  checked?: ReadonlyMap<string, string>,
): Promise<string[]> {
  const names = new Array<string>(lines.length);
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i]!;
    // sorted and unique, as packagesTextOfLines makes it: the same set always has the same hash
    if (i > 0 && !(lines[i - 1]! < l)) fail('RPC_INVALID_PARAMS', 'packages lines must be sorted and unique');
    const known = checked?.get(l);
    if (known !== undefined) {
      names[i] = known;
    } else {
      // a line that is no record throws STATUS_INVALID: /RPC2 answers it INVALID_PARAMS (rpc/faults.ts)
      names[i] = parseRecordLine(l).package;
    }
    if ((i & 63) === 63) await slicer.tick();
  }
  return names;
}

/** A full payload (already gunzipped): checked against the limits, the announced hash and the record syntax. */
export async function checkFull(
  raw: Buffer,
  hash: string,
  limits: ReportLimits,
  slicer: TimeSlicer,
): Promise<CheckedPackages> {
  if (raw.length > limits.maxBytes) throw tooBig(limits);
  const lines = await splitLines(raw, limits, slicer);
  if ((await sha256OfBuffer(raw, slicer)) !== hash)
    fail('PACKAGES_MISMATCH', 'the packages do not give the announced hash');
  return { hash, lines, names: await checkRecords(lines, slicer) };
}

function keyOf(line: string): { key: string; name: string } {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    fail('RPC_INVALID_PARAMS', 'a delta line is not a package record');
  }
  if (!Array.isArray(v) || typeof v[0] !== 'string' || typeof v[1] !== 'string')
    fail('RPC_INVALID_PARAMS', 'a delta line is not a package record');
  return { key: `${v[0]}:${v[1]}`, name: v[0] };
}

/**
 * A delta applied to the lines of its base (stored, so already valid): the changed and added
 * lines (gunzipped), the removed instances. The result is checked as a full payload would be.
 */
export async function checkDelta(
  base: readonly string[],
  upsert: Buffer | undefined,
  remove: readonly string[],
  hash: string,
  limits: ReportLimits,
  slicer: TimeSlicer,
): Promise<CheckedPackages> {
  const byKey = new Map<string, string>();
  const nameOf = new Map<string, string>();
  for (let i = 0; i < base.length; i++) {
    const k = keyOf(base[i]!);
    byKey.set(k.key, base[i]!);
    nameOf.set(base[i]!, k.name);
    if ((i & 255) === 255) await slicer.tick();
  }
  for (const k of remove) byKey.delete(k);
  const added = upsert ? await splitLines(upsert, limits, slicer) : [];
  for (let i = 0; i < added.length; i++) {
    byKey.set(keyOf(added[i]!).key, added[i]!);
    if ((i & 255) === 255) await slicer.tick();
  }
  if (byKey.size > limits.maxPackages) throw tooMany(limits);
  let bytes = 0;
  for (const l of byKey.values()) bytes += Buffer.byteLength(l) + 1;
  if (bytes > limits.maxBytes) throw tooBig(limits);
  await slicer.tick();
  // the canonical text, as packagesTextOfLines makes it (the limits above bound this sort)
  const lines = [...new Set(byKey.values())].sort();
  await slicer.tick();
  if ((await sha256OfLines(lines, slicer)) !== hash)
    fail('PACKAGES_MISMATCH', 'the packages do not give the announced hash');
  // only the lines the delta brought need the full check
  return { hash, lines, names: await checkRecords(lines, slicer, nameOf) };
}
