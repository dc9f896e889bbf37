// Runs the commands of a job one after another, never through a shell, streaming their output
// into one transcript ("$ command" then what it printed, as a terminal shows it), capped to
// its last 64 KiB.
import { spawn } from 'node:child_process';
import { readableOutput } from '../index/dpkg-output.js';
import { commandLine, type Command } from './target.js';

export const TRANSCRIPT_CAP = 64 * 1024;

/**
 * A growing text that keeps only its last `cap` bytes, as a person reads it: a line rewritten
 * in place with CR (dpkg's "(Reading database ... 45%" on apt's pseudo-terminal, a progress
 * bar) keeps its last state, CR LF is a newline (index/dpkg-output.ts).
 */
export class Transcript {
  /** complete lines, readable */
  private text = '';
  /** the line still being written, as it came (it may be rewritten with CR yet) */
  private pending = '';

  constructor(
    private readonly cap = TRANSCRIPT_CAP,
    private readonly onOutput?: (s: string) => void,
  ) {}

  add(s: string): void {
    if (s === '') return;
    this.pending += s;
    const nl = this.pending.lastIndexOf('\n');
    if (nl !== -1) {
      this.text += readableOutput(this.pending.slice(0, nl + 1));
      this.pending = this.pending.slice(nl + 1);
    }
    // a line rewritten forever without a newline stays bounded too
    if (this.pending.length > this.cap) this.pending = readableOutput(this.pending).slice(-this.cap);
    if (this.text.length > 4 * this.cap) this.text = this.text.slice(-2 * this.cap);
    this.onOutput?.(s);
  }

  /** a line of its own (a newline first when the text does not end with one) */
  line(s: string): void {
    this.add(`${this.pending !== '' ? '\n' : ''}${s}\n`);
  }

  toString(): string {
    const text = this.text + readableOutput(this.pending);
    const b = Buffer.from(text, 'utf8');
    if (b.length <= this.cap) return text;
    let start = b.length - this.cap;
    while (start < b.length && (b[start]! & 0xc0) === 0x80) start++; // not inside a UTF-8 character
    return b.subarray(start).toString('utf8');
  }
}

export interface RunOutcome {
  /** the exit code; -1 when a signal ended the command (see `signal`) or it could not start */
  code: number;
  signal: NodeJS.Signals | null;
  /** what this command printed (stdout and stderr interleaved) */
  output: string;
  /** stdout alone */
  stdout: string;
  /** the command could not be started */
  spawnError?: string;
}

export interface RunOptions {
  transcript?: Transcript;
  signal?: AbortSignal;
  /** grace between SIGTERM and SIGKILL when aborted; default 5 s */
  killGraceMs?: number;
  /** cap on the output kept in RunOutcome (the transcript has its own); default 16 MiB */
  maxOutput?: number;
}

/**
 * Runs one command in its own process group (so that an abort reaches dpkg and the maintainer
 * scripts apt started too), stdin from /dev/null. Never rejects.
 */
export function runCommand(cmd: Command, opts: RunOptions = {}): Promise<RunOutcome> {
  const t = opts.transcript;
  t?.line(`$ ${commandLine(cmd)}`);
  const maxOutput = opts.maxOutput ?? 16 * 1024 * 1024;
  return new Promise((resolve) => {
    if (opts.signal?.aborted) {
      resolve({ code: -1, signal: null, output: '', stdout: '', spawnError: 'aborted before it started' });
      return;
    }
    const child = spawn(cmd.file, cmd.args, {
      shell: false,
      env: cmd.env,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    let output = '';
    let stdout = '';
    let killTimer: NodeJS.Timeout | undefined;
    const killGroup = (sig: NodeJS.Signals) => {
      try {
        if (child.pid !== undefined) process.kill(-child.pid, sig);
      } catch {
        /* already gone */
      }
    };
    const onAbort = () => {
      killGroup('SIGTERM');
      killTimer = setTimeout(() => killGroup('SIGKILL'), opts.killGraceMs ?? 5000);
      killTimer.unref();
    };
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    const take = (isStdout: boolean) => (s: string) => {
      if (output.length < maxOutput) output += s;
      if (isStdout && stdout.length < maxOutput) stdout += s;
      t?.add(s);
    };
    child.stdout.setEncoding('utf8');
    child.stderr.setEncoding('utf8');
    child.stdout.on('data', take(true));
    child.stderr.on('data', take(false));
    let spawnError: string | undefined;
    child.on('error', (e) => {
      spawnError = e.message;
    });
    child.on('close', (code, signal) => {
      opts.signal?.removeEventListener('abort', onAbort);
      if (killTimer) clearTimeout(killTimer);
      if (spawnError !== undefined) t?.line(`${cmd.file}: ${spawnError}`);
      const out: RunOutcome = { code: code ?? -1, signal, output, stdout };
      if (spawnError !== undefined) out.spawnError = spawnError;
      resolve(out);
    });
  });
}
