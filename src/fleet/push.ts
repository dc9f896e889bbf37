// Push: make agents pull now by running the agent once over ssh, a bounded number at a time.
// Every ssh is spawned with an argument vector (never a shell); hostnames are checked again
// before they reach ssh; a run that outlives its timeout is killed. Returns data only.
import { spawn } from 'node:child_process';
import { fail } from '../errors.js';

export interface PushTarget {
  id: number;
  hostname: string;
}

export interface PushOptions {
  /** the ssh program and any leading arguments, e.g. ["ssh"] or ["ssh", "-F", "/etc/aptgate/ssh_config"] */
  sshCommand: readonly string[];
  /** `-o` options for ssh ("Key=Value"), in order */
  sshOptions: readonly string[];
  parallel: number;
  timeoutMs: number;
  /** remote user (default root) */
  user?: string;
  /** what runs on the machine (default aptgate-agent run-once) */
  remoteCommand?: readonly string[];
  /** grace after SIGTERM before SIGKILL (default 5 s) */
  killGraceMs?: number;
}

/** answered: exit 0; unreachable: ssh's own failure (exit 255); failed: anything else */
export type PushOutcome = 'answered' | 'failed' | 'unreachable';

export interface PushResult {
  id: number;
  hostname: string;
  outcome: PushOutcome;
  exitCode: number | null;
  signal: string | null;
  timedOut: boolean;
  durationMs: number;
  /** last non-empty line the remote side (or ssh) wrote to stderr / stdout */
  lastStderr: string;
  lastStdout: string;
  /** why it was not run, or could not be started */
  error: string | null;
}

export type PushProgress = (result: PushResult, done: number, total: number) => void;

const HOST_RE = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,62})(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}))*$/;
const OPTION_RE = /^[A-Za-z][A-Za-z0-9]{0,63}(?:=|\s+)\S[^\r\n\0]{0,1023}$/;
const USER_RE = /^[a-z_][a-z0-9_-]{0,31}$/;

/** A hostname ssh may be given: DNS labels only (so never an option, never a user@ or a path). */
export function isPushableHostname(h: string): boolean {
  return h.length <= 253 && !h.startsWith('-') && HOST_RE.test(h);
}

/** Checks the options once, before anything runs (USAGE). */
export function checkPushOptions(o: PushOptions): void {
  if (!o.sshCommand.length || !o.sshCommand[0] || o.sshCommand.some((a) => a.includes('\0')))
    fail('USAGE', 'the ssh command is empty');
  for (const opt of o.sshOptions)
    if (!OPTION_RE.test(opt))
      fail('USAGE', `"${opt.slice(0, 80)}" is not an ssh option (Key=Value, as ssh -o takes it)`);
  if (!Number.isInteger(o.parallel) || o.parallel < 1 || o.parallel > 1000) fail('USAGE', 'parallel runs: 1..1000');
  if (!(o.timeoutMs > 0)) fail('USAGE', 'the timeout must be positive');
  if (o.user !== undefined && !USER_RE.test(o.user)) fail('USAGE', `"${o.user.slice(0, 40)}" is not a user name`);
}

/**
 * The argument vector for one machine: ssh [args] -o OPT... -o BatchMode=yes -o ConnectTimeout=10 user@host command.
 */
export function sshArgv(t: PushTarget, o: PushOptions): string[] {
  if (!isPushableHostname(t.hostname)) fail('USAGE', `refusing hostname "${t.hostname.slice(0, 80)}"`);
  return [
    ...o.sshCommand,
    ...o.sshOptions.flatMap((opt) => ['-o', opt]),
    '-o',
    'BatchMode=yes',
    '-o',
    'ConnectTimeout=10',
    `${o.user ?? 'root'}@${t.hostname}`,
    ...(o.remoteCommand ?? ['aptgate-agent', 'run-once']),
  ];
}

function lastLine(tail: string): string {
  const lines = tail
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter(Boolean);
  return (lines[lines.length - 1] ?? '').slice(0, 500);
}

function runOne(t: PushTarget, o: PushOptions): Promise<PushResult> {
  const started = Date.now();
  const base = {
    id: t.id,
    hostname: t.hostname,
    exitCode: null,
    signal: null,
    timedOut: false,
    lastStderr: '',
    lastStdout: '',
  };
  let argv: string[];
  try {
    argv = sshArgv(t, o);
  } catch (err) {
    return Promise.resolve({ ...base, outcome: 'failed', durationMs: 0, error: (err as Error).message });
  }
  return new Promise((resolve) => {
    let out = '';
    let errTail = '';
    let timedOut = false;
    let settled = false;
    const child = spawn(argv[0]!, argv.slice(1), {
      stdio: ['ignore', 'pipe', 'pipe'],
      shell: false,
      windowsHide: true,
    });
    const keep = (s: string, b: Buffer) => (s + b.toString('utf8')).slice(-8192);
    child.stdout.on('data', (b: Buffer) => {
      out = keep(out, b);
    });
    child.stderr.on('data', (b: Buffer) => {
      errTail = keep(errTail, b);
    });
    let killTimer: NodeJS.Timeout | undefined;
    let exited: [number | null, NodeJS.Signals | null] | undefined;
    const timer = setTimeout(() => {
      if (exited) {
        // ssh is gone, something it left behind holds the pipes
        child.stdout.destroy();
        child.stderr.destroy();
        finish(exited[0], exited[1], null);
        return;
      }
      timedOut = true;
      child.kill('SIGTERM');
      killTimer = setTimeout(() => child.kill('SIGKILL'), o.killGraceMs ?? 5000);
    }, o.timeoutMs);
    const finish = (code: number | null, signal: NodeJS.Signals | null, error: string | null) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (killTimer) clearTimeout(killTimer);
      const outcome: PushOutcome = code === 0 && !timedOut ? 'answered' : code === 255 ? 'unreachable' : 'failed';
      resolve({
        ...base,
        outcome,
        exitCode: code,
        signal,
        timedOut,
        durationMs: Date.now() - started,
        lastStderr: lastLine(errTail),
        lastStdout: lastLine(out),
        error: error ?? (timedOut ? `no answer within ${Math.round(o.timeoutMs / 1000)}s (killed)` : null),
      });
    };
    child.on('error', (err) => finish(null, null, `cannot run ${argv[0]}: ${err.message}`));
    // normally all output is read first ('close'); a killed ssh may leave a grandchild holding the
    // pipes open, so after a timeout its exit is enough
    child.on('close', (code, signal) => finish(code, signal, null));
    child.on('exit', (code, signal) => {
      exited = [code, signal];
      if (!timedOut) return;
      child.stdout.destroy();
      child.stderr.destroy();
      finish(code, signal, null);
    });
  });
}

/** Runs the agent once on every target, at most `parallel` at a time; results in target order. */
export async function push(
  targets: readonly PushTarget[],
  o: PushOptions,
  onProgress?: PushProgress,
): Promise<PushResult[]> {
  checkPushOptions(o);
  const results = new Array<PushResult>(targets.length);
  let next = 0;
  let done = 0;
  const worker = async () => {
    while (next < targets.length) {
      const i = next++;
      const r = await runOne(targets[i]!, o);
      results[i] = r;
      done++;
      onProgress?.(r, done, targets.length);
    }
  };
  await Promise.all(Array.from({ length: Math.min(o.parallel, targets.length) }, worker));
  return results;
}

export function pushCounts(results: readonly PushResult[]): Record<PushOutcome, number> {
  const c: Record<PushOutcome, number> = { answered: 0, failed: 0, unreachable: 0 };
  for (const r of results) c[r.outcome]++;
  return c;
}
