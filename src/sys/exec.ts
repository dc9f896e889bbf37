// Runs a program with an argument vector, never through a shell.
import { spawn } from 'node:child_process';
import { AptgateError, fail } from '../errors.js';

export interface ExecResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: Buffer;
  stderr: Buffer;
}

export interface ExecOptions {
  input?: Buffer | string;
  timeoutMs?: number;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** cap on captured stdout; exceeding it kills the program */
  maxStdout?: number;
}

export function exec(file: string, args: readonly string[], opts: ExecOptions = {}): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, {
      shell: false,
      stdio: ['pipe', 'pipe', 'pipe'],
      env: opts.env ?? process.env,
      cwd: opts.cwd,
      timeout: opts.timeoutMs ?? 60_000,
      killSignal: 'SIGKILL',
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let outBytes = 0;
    const maxStdout = opts.maxStdout ?? 64 * 1024 * 1024;
    child.stdout.on('data', (c: Buffer) => {
      outBytes += c.length;
      if (outBytes > maxStdout) child.kill('SIGKILL');
      else out.push(c);
    });
    child.stderr.on('data', (c: Buffer) => err.push(c));
    child.on('error', (e) => reject(new AptgateError('EXEC_FAILED', `${file}: ${e.message}`, { file }, { cause: e })));
    child.on('close', (code, signal) => {
      if (outBytes > maxStdout) {
        reject(new AptgateError('EXEC_FAILED', `${file}: output larger than ${maxStdout} bytes`, { file }));
        return;
      }
      resolve({ code, signal, stdout: Buffer.concat(out), stderr: Buffer.concat(err) });
    });
    child.stdin.on('error', () => {
      /* the program may exit before reading all input */
    });
    child.stdin.end(opts.input ?? '');
  });
}

/** Like exec, but a non-zero exit is an EXEC_FAILED error carrying stderr. */
export async function execOk(file: string, args: readonly string[], opts: ExecOptions = {}): Promise<ExecResult> {
  const r = await exec(file, args, opts);
  if (r.code !== 0) {
    fail(
      'EXEC_FAILED',
      `${file} ${args.join(' ')} exited ${r.code ?? r.signal}: ${r.stderr.toString('utf8').trim().slice(0, 2000)}`,
      { file, code: r.code },
    );
  }
  return r;
}
