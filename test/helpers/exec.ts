/**
 * Tiny child-process wrapper for the test helpers. Never goes through a shell:
 * the command and its arguments are passed to spawn() as an array.
 */
import { spawn } from 'node:child_process';

export interface ExecOptions {
  /** bytes written to the child's stdin (stdin is closed afterwards; /dev/null-like when omitted) */
  input?: Buffer | string;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** kill the child with SIGKILL after this many ms (default: no limit) */
  timeoutMs?: number;
}

export interface ExecResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: Buffer;
  stderr: Buffer;
}

/** Runs `cmd args...` and resolves with its exit code and full output; never rejects for a non-zero exit. */
export function exec(cmd: string, args: readonly string[], opts: ExecOptions = {}): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      cwd: opts.cwd,
      env: opts.env ?? process.env,
      stdio: ['pipe', 'pipe', 'pipe'],
      shell: false,
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let timer: NodeJS.Timeout | undefined;
    if (opts.timeoutMs !== undefined) {
      timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs);
      timer.unref();
    }
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.on('error', (e) => {
      if (timer) clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code, signal) => {
      if (timer) clearTimeout(timer);
      resolve({ code, signal, stdout: Buffer.concat(out), stderr: Buffer.concat(err) });
    });
    // EPIPE when the child exits without reading stdin is not an error for us.
    child.stdin.on('error', () => undefined);
    child.stdin.end(opts.input ?? '');
  });
}

/** Like exec() but rejects (with stderr in the message) unless the exit code is 0; resolves with stdout. */
export async function execOk(cmd: string, args: readonly string[], opts: ExecOptions = {}): Promise<Buffer> {
  const r = await exec(cmd, args, opts);
  if (r.code !== 0) {
    const how = r.signal ? `signal ${r.signal}` : `exit code ${r.code}`;
    throw new Error(
      `${cmd} ${args.join(' ')} failed with ${how}:\n${r.stderr.toString('utf8')}${r.stdout.toString('utf8').slice(0, 2000)}`,
    );
  }
  return r.stdout;
}
