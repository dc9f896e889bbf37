// The fingerprints of the primary keys in a binary OpenPGP keyring (RFC 4880 / 9580 packet
// framing), read without gpg: `aptgate site join` compares the parent's key with the
// fingerprint the administrator was given before it trusts the file. A v4 key's fingerprint is
// SHA-1 over 0x99, a two-octet length and the key packet's body; a v6 key's SHA-256 over 0x9b,
// a four-octet length and the body. Anything that is not a well-formed packet sequence is refused.
import { createHash } from 'node:crypto';
import { fail } from '../errors.js';

const PUBLIC_KEY = 6;

interface Packet {
  tag: number;
  body: Buffer;
}

function packets(data: Buffer): Packet[] {
  const out: Packet[] = [];
  let i = 0;
  const bad = (why: string): never => fail('SIGNATURE', `the key is not an OpenPGP keyring: ${why}`);
  while (i < data.length) {
    const h = data[i]!;
    if ((h & 0x80) === 0) bad(`no packet header at byte ${i}`);
    let tag: number;
    let len: number;
    if (h & 0x40) {
      tag = h & 0x3f;
      const a = data[i + 1];
      if (a === undefined) bad('truncated length');
      if (a! < 192) {
        len = a!;
        i += 2;
      } else if (a! < 224) {
        if (i + 2 >= data.length) bad('truncated length');
        len = ((a! - 192) << 8) + data[i + 2]! + 192;
        i += 3;
      } else if (a === 255) {
        if (i + 5 >= data.length) bad('truncated length');
        len = data.readUInt32BE(i + 2);
        i += 6;
      } else {
        return bad('partial body lengths do not occur in keys');
      }
    } else {
      tag = (h >> 2) & 0x0f;
      const t = h & 3;
      const n = t === 0 ? 1 : t === 1 ? 2 : t === 2 ? 4 : bad('indeterminate length');
      if (i + n >= data.length) bad('truncated length');
      len = n === 1 ? data[i + 1]! : n === 2 ? data.readUInt16BE(i + 1) : data.readUInt32BE(i + 1);
      i += 1 + n;
    }
    if (i + len > data.length) bad('truncated packet');
    out.push({ tag, body: data.subarray(i, i + len) });
    i += len;
  }
  return out;
}

/** The fingerprints (upper-case hex) of the primary keys of a binary keyring, in order. */
export function keyringFingerprints(data: Buffer): string[] {
  const fprs: string[] = [];
  for (const p of packets(data)) {
    if (p.tag !== PUBLIC_KEY) continue;
    const version = p.body[0];
    if (version === 4) {
      const head = Buffer.from([0x99, (p.body.length >> 8) & 0xff, p.body.length & 0xff]);
      fprs.push(createHash('sha1').update(head).update(p.body).digest('hex').toUpperCase());
    } else if (version === 6) {
      const head = Buffer.alloc(5);
      head[0] = 0x9b;
      head.writeUInt32BE(p.body.length, 1);
      fprs.push(createHash('sha256').update(head).update(p.body).digest('hex').toUpperCase());
    } else {
      fail('SIGNATURE', `the key is an OpenPGP key of version ${version ?? '?'}, which aptgate does not read`);
    }
  }
  return fprs;
}
