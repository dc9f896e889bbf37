// A password for `aptgate users add|passwd`: never an argument (it would show in ps and the
// shell's history). From a terminal: asked twice, nothing echoed; otherwise the first line of
// stdin (a script: printf '%s\n' "$PW" | aptgate users add alice --role admin).
import { fail } from '../errors.js';

const MAX_BYTES = 8192;

/** The first line of a stream that is not a terminal (without its line ending); USAGE when there is none. */
export function readPasswordLine(input: NodeJS.ReadableStream = process.stdin): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const done = (err: Error | undefined, line?: string) => {
      input.removeListener('data', onData);
      input.removeListener('end', onEnd);
      input.removeListener('error', onError);
      input.pause();
      if (err) reject(err);
      else resolve(line!);
    };
    const finish = (all: Buffer) => {
      const text = all.toString('utf8');
      const nl = text.indexOf('\n');
      const line = (nl < 0 ? text : text.slice(0, nl)).replace(/\r$/, '');
      try {
        if (!line) fail('USAGE', 'no password on stdin (one line), and stdin is not a terminal to ask on');
        done(undefined, line);
      } catch (err) {
        done(err as Error);
      }
    };
    const onData = (c: Buffer | string) => {
      const b = typeof c === 'string' ? Buffer.from(c) : c;
      chunks.push(b);
      size += b.length;
      if (b.includes(10)) return finish(Buffer.concat(chunks));
      if (size > MAX_BYTES) {
        try {
          fail('USAGE', `the password line on stdin is longer than ${MAX_BYTES} bytes`);
        } catch (err) {
          done(err as Error);
        }
      }
    };
    const onEnd = () => finish(Buffer.concat(chunks));
    const onError = (err: Error) => done(err);
    input.on('data', onData);
    input.on('end', onEnd);
    input.on('error', onError);
  });
}

/** Asks on the terminal without echo: Enter ends, Backspace deletes, Ctrl-C or Ctrl-D on an empty line cancels. */
function askHidden(prompt: string, tty: NodeJS.ReadStream, out: NodeJS.WriteStream): Promise<string> {
  return new Promise((resolve, reject) => {
    // no echo from before the prompt shows: whatever is typed once it is visible stays hidden
    tty.setRawMode(true);
    out.write(prompt);
    let value = '';
    tty.resume();
    const end = (err?: Error) => {
      tty.removeListener('data', onData);
      tty.setRawMode(false);
      tty.pause();
      out.write('\n');
      if (err) reject(err);
      else resolve(value);
    };
    const onData = (c: Buffer) => {
      for (const ch of c.toString('utf8')) {
        if (ch === '\r' || ch === '\n') return end();
        if (ch === '\u0003' || (ch === '\u0004' && value === '')) {
          try {
            fail('USAGE', 'cancelled');
          } catch (err) {
            return end(err as Error);
          }
        }
        if (ch === '\u007f' || ch === '\b') value = [...value].slice(0, -1).join('');
        else if (ch >= ' ') value += ch;
      }
    };
    tty.on('data', onData);
  });
}

/** The new password: asked twice on a terminal (they must agree), else the first line of stdin. */
export async function readNewPassword(what: string): Promise<string> {
  const stdin = process.stdin;
  if (!stdin.isTTY) return readPasswordLine(stdin);
  const first = await askHidden(`${what}: `, stdin, process.stderr);
  const again = await askHidden(`${what} (again): `, stdin, process.stderr);
  if (first !== again) fail('USAGE', 'the two passwords differ');
  return first;
}

/** A password asked once (no echo) on a terminal, else the first line of stdin. */
export async function readPassword(what: string): Promise<string> {
  const stdin = process.stdin;
  if (!stdin.isTTY) return readPasswordLine(stdin);
  return askHidden(`${what}: `, stdin, process.stderr);
}
