// What the agent keeps between runs, in its state directory (mode 0700, files 0600: the secret
// is readable by root only): the identity from enrolment, the last reported state (for check-in
// hashes and deltas), the last signed timestamp, and job results not yet acknowledged.
import {
  chmodSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
  openSync,
  fsyncSync,
  closeSync,
} from 'node:fs';
import path from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import type { JobResult } from './types.js';

export interface Identity {
  server: string;
  machine: number;
  secret: string;
  /** the /etc/machine-id enrolled */
  machineId: string;
}

export interface LastState {
  /** the state hash the server acknowledged */
  state: string;
  packagesHash: string;
}

export interface SpooledResult {
  id: number;
  result: JobResult;
}

export class AgentState {
  constructor(readonly dir: string) {}

  private file(name: string): string {
    return path.join(this.dir, name);
  }

  ensureDir(): void {
    mkdirSync(this.file('spool'), { recursive: true, mode: 0o700 });
    chmodSync(this.dir, 0o700);
  }

  /** Writes a file atomically (temporary name, fsync, rename), mode 0600. */
  private write(name: string, data: string | Buffer): void {
    this.ensureDir();
    const tmp = this.file(`.${name.replace(/\//g, '_')}.tmp`);
    writeFileSync(tmp, data, { mode: 0o600 });
    const fd = openSync(tmp, 'r');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, this.file(name));
  }

  private read(name: string): Buffer | undefined {
    try {
      return readFileSync(this.file(name));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
  }

  identity(): Identity | undefined {
    const b = this.read('identity.json');
    return b ? (JSON.parse(b.toString('utf8')) as Identity) : undefined;
  }
  saveIdentity(i: Identity): void {
    this.write('identity.json', JSON.stringify(i, null, 2) + '\n');
    // a new identity: whatever the server knew of the old one is not a base any more
    rmSync(this.file('last.json'), { force: true });
    rmSync(this.file('packages.gz'), { force: true });
  }

  /** Drops the identity and everything tied to it (state, timestamps, spooled results). */
  forgetIdentity(): void {
    for (const f of ['identity.json', 'last.json', 'packages.gz', 'timestamp', 'sources-hash'])
      rmSync(this.file(f), { force: true });
    rmSync(this.file('spool'), { recursive: true, force: true });
  }

  last(): LastState | undefined {
    const b = this.read('last.json');
    return b ? (JSON.parse(b.toString('utf8')) as LastState) : undefined;
  }
  /** The packages text last acknowledged by the server (a delta's base). */
  lastPackages(): string | undefined {
    const b = this.read('packages.gz');
    return b ? gunzipSync(b).toString('utf8') : undefined;
  }
  saveLast(l: LastState, packagesText: string): void {
    this.write('packages.gz', gzipSync(packagesText));
    this.write('last.json', JSON.stringify(l) + '\n');
  }

  /** hash of the stage sources last written (release gate) */
  sourcesHash(): string {
    return this.read('sources-hash')?.toString('utf8') ?? '';
  }
  saveSourcesHash(hash: string): void {
    this.write('sources-hash', hash);
  }

  lastTimestamp(): number {
    const b = this.read('timestamp');
    return b ? Number(b.toString('utf8')) || 0 : 0;
  }
  saveTimestamp(ts: number): void {
    this.write('timestamp', String(ts));
  }

  spool(r: SpooledResult): void {
    this.write(`spool/job-${r.id}.json`, JSON.stringify(r));
  }
  spooled(): SpooledResult[] {
    let names: string[];
    try {
      names = readdirSync(this.file('spool'));
    } catch {
      return [];
    }
    return names
      .filter((n) => /^job-\d+\.json$/.test(n))
      .map((n) => JSON.parse(readFileSync(this.file(`spool/${n}`), 'utf8')) as SpooledResult)
      .sort((a, b) => a.id - b.id);
  }
  unspool(id: number): void {
    rmSync(this.file(`spool/job-${id}.json`), { force: true });
  }
}
