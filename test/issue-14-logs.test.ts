// Issue 14: logs people can read on a terminal. The real server on a real pseudo-terminal
// (python3's pty module allocates it and runs the server with an argument vector, no shell):
// human lines by default there, JSON on a pipe, --log-format and server.log_format to choose;
// nothing a client sends reaches the terminal as a control character.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { request } from './helpers/http.js';
import { projectRoot } from './helpers/paths.js';
import { makeWorld, type World } from './helpers/world.js';
import { exec } from './helpers/exec.js';
import { humanLine, localTime, logFormatOf } from '../src/log-human.js';
import { defaultConfig, applySetting } from '../src/config.js';

const CLI = path.join(projectRoot, 'dist', 'src', 'cli', 'main.js');
// the server's stdin, stdout and stderr are the slave side of a new pty; python copies what the
// server writes to its own stdout (our pipe) and what we write to its stdin to the terminal
const PTY = 'import pty, sys; sys.exit(pty.spawn(sys.argv[1:]) >> 8)';
/** a line of the human form: local time to the millisecond, the level padded to 5 */
const HUMAN = /^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}) (TRACE|DEBUG|INFO |WARN |ERROR|FATAL) (.*)$/;

let world: World;
let dir: string;

before(async () => {
  world = await makeWorld();
  dir = await mkdtemp(path.join(os.tmpdir(), 'aptgate-i14-logs-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
  await world.close();
});

/** A running server process and the lines of its output as they arrive. */
interface Running {
  child: ChildProcess;
  lines: string[];
  /** the first line (already seen or still to come) that matches */
  line(re: RegExp): Promise<RegExpMatchArray>;
  exit: Promise<number | null>;
}

/** The server, through `wrapper` (a command that runs the rest of its arguments) or directly. */
function run(wrapper: string[], env: NodeJS.ProcessEnv, name: string): Running {
  const serverArgs = [
    CLI,
    'serve',
    '--listen',
    '127.0.0.1',
    '--port',
    '0',
    '--db',
    path.join(dir, `${name}.db`),
    '--cache-dir',
    path.join(dir, `${name}-cache`),
    '--backend',
    `fixture=${world.upstream.base}`,
    '--keyring',
    `fixture=${world.key.keyring}`,
  ];
  const argv = [...wrapper, process.execPath, ...serverArgs];
  const child = spawn(argv[0]!, argv.slice(1), {
    env: { ...process.env, APTGATE_SERVER_LOG_LEVEL: 'info', ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  const waiting: Array<{ re: RegExp; resolve: (m: RegExpMatchArray) => void }> = [];
  let partial = '';
  const take = (chunk: Buffer) => {
    // a terminal ends lines with \r\n
    const parts = (partial + chunk.toString('utf8')).split(/\r?\n/);
    partial = parts.pop()!;
    for (const l of parts) {
      lines.push(l);
      for (const w of [...waiting]) {
        const m = w.re.exec(l);
        if (m) {
          waiting.splice(waiting.indexOf(w), 1);
          w.resolve(m);
        }
      }
    }
  };
  child.stdout!.on('data', take);
  child.stderr!.on('data', take);
  const exit = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
  return {
    child,
    lines,
    exit,
    line: (re) => {
      for (const l of lines) {
        const m = re.exec(l);
        if (m) return Promise.resolve(m);
      }
      return Promise.race([
        new Promise<RegExpMatchArray>((resolve) => waiting.push({ re, resolve })),
        exit.then((code) => {
          throw new Error(`server exited ${code} before a line matching ${re}:\n${lines.join('\n')}`);
        }),
      ]);
    },
  };
}

const onTerminal = (env: NodeJS.ProcessEnv, name: string) => run(['python3', '-c', PTY], env, name);
const onPipe = (env: NodeJS.ProcessEnv, name: string) => run([], env, name);

async function stop(r: Running, how: 'ctrl-c' | 'term'): Promise<number | null> {
  if (how === 'ctrl-c') r.child.stdin!.write('\x03');
  else r.child.kill('SIGTERM');
  return r.exit;
}

/**
 * An XML-RPC call whose method name carries a C1 control (CSI, which a terminal may obey) and a
 * bidi override: the server logs the method name of every call, known or not.
 */
const hostileMethod = 'x\u009b2J\u202eevil';
async function hostile(port: number): Promise<void> {
  const body = `<?xml version="1.0"?><methodCall><methodName>${hostileMethod}</methodName><params/></methodCall>`;
  const res = await fetch(`http://127.0.0.1:${port}/RPC2`, {
    method: 'POST',
    body,
    headers: { 'content-type': 'text/xml' },
  });
  assert.match(await res.text(), /faultCode/);
}

test(
  'on a terminal the server logs human lines (local time, level, message, fields), escapes what clients send, and Ctrl-C stops it cleanly',
  { timeout: 120_000 },
  async () => {
    // a zone with a 45-minute offset: the time shown must be local, not UTC or epoch milliseconds
    const r = onTerminal({ TZ: 'Asia/Kathmandu' }, 'tty');
    try {
      const listening = await r.line(/Server listening at http:\/\/127\.0\.0\.1:(\d+)/);
      const port = Number(listening[1]);
      const before = Date.now();
      const res = await request(port, '/fixture/dists/stable/InRelease');
      assert.equal(res.status, 200);
      const access = (await r.line(/ GET \/fixture\/dists\/stable\/InRelease /)).input!;
      const after = Date.now();
      const m = HUMAN.exec(access);
      assert.ok(m, `a human line: ${access}`);
      assert.equal(m[2], 'INFO ');
      assert.match(
        m[3]!,
        new RegExp(
          `^GET /fixture/dists/stable/InRelease 200 miss ${res.body.length < 1024 ? `${res.body.length} B` : `${(res.body.length / 1024).toFixed(1)} KiB`} \\d+ ms client=127\\.0\\.0\\.1$`,
        ),
      );
      // Kathmandu is UTC+05:45 all year
      const shown = Date.parse(m[1]!.replace(' ', 'T') + 'Z') - (5 * 60 + 45) * 60_000;
      assert.ok(
        shown >= before - 1 && shown <= after + 1,
        `${m[1]} is the local time of the request (${new Date(before).toISOString()})`,
      );
      // every line on the terminal is a human line (no JSON, no epoch milliseconds)
      assert.ok(
        r.lines.every((l) => HUMAN.test(l)),
        r.lines.join('\n'),
      );

      await hostile(port);
      const bad = (await r.line(/ INFO {2}rpc client=/)).input!;
      assert.match(bad, / rpc="x\\u009b2J\\u202eevil" fault=-?\d+ ms=\d+$/);
      assert.ok(
        !/[\u0000-\u001f\u007f-\u009f\u202e]/.test(r.lines.join('')),
        'no control or bidi character reached the terminal',
      );

      assert.equal(await stop(r, 'ctrl-c'), 0);
      assert.ok(
        r.lines.some((l) => /^\S+ \S+ INFO {2}shutting down signal=SIGINT$/.test(l)),
        r.lines.join('\n'),
      );
    } finally {
      r.child.kill('SIGKILL');
    }
  },
);

test(
  'server.log_format = json keeps JSON on a terminal, with control characters escaped (the same JSON)',
  { timeout: 120_000 },
  async () => {
    const r = onTerminal({ APTGATE_SERVER_LOG_FORMAT: 'json' }, 'tty-json');
    try {
      const listening = await r.line(/Server listening at http:\/\/127\.0\.0\.1:(\d+)/);
      const port = Number(listening[1]);
      await hostile(port);
      const line = (await r.line(/"msg":"rpc"/)).input!;
      const rec = JSON.parse(line) as { time: number; rpc: string; level: number };
      assert.equal(typeof rec.time, 'number');
      assert.equal(rec.rpc, hostileMethod, 'the JSON value is unchanged');
      assert.ok(line.includes('\\u009b') && line.includes('\\u202e'), line);
      assert.ok(!/[\u0000-\u001f\u007f-\u009f\u202e]/.test(r.lines.join('')));
      assert.equal(await stop(r, 'ctrl-c'), 0);
    } finally {
      r.child.kill('SIGKILL');
    }
  },
);

test(
  'on a pipe (the journal) the server logs JSON; --log-format human gives human lines there too',
  { timeout: 120_000 },
  async () => {
    const json = onPipe({}, 'pipe-json');
    try {
      const port = Number((await json.line(/Server listening at http:\/\/127\.0\.0\.1:(\d+)/))[1]);
      await request(port, '/fixture/dists/stable/InRelease');
      await json.line(/"msg":"access"/);
      assert.equal(await stop(json, 'term'), 0);
      for (const l of json.lines.filter(Boolean)) {
        const rec = JSON.parse(l) as { time: unknown; level: unknown };
        assert.equal(typeof rec.time, 'number', l);
        assert.equal(typeof rec.level, 'number', l);
      }
    } finally {
      json.child.kill('SIGKILL');
    }

    const child = spawn(
      process.execPath,
      [
        CLI,
        'serve',
        '--log-format',
        'human',
        '--listen',
        '127.0.0.1',
        '--port',
        '0',
        '--db',
        path.join(dir, 'pipe-human.db'),
        '--cache-dir',
        path.join(dir, 'pipe-human-cache'),
        '--backend',
        `fixture=${world.upstream.base}`,
        '--keyring',
        `fixture=${world.key.keyring}`,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    try {
      const port = await new Promise<number>((resolve, reject) => {
        child.stdout!.on('data', (c: Buffer) => {
          out += c.toString();
          const m = /INFO {2}Server listening at http:\/\/127\.0\.0\.1:(\d+)\n/.exec(out);
          if (m) resolve(Number(m[1]));
        });
        child.once('close', (code) => reject(new Error(`exited ${code}: ${out}`)));
      });
      await request(port, '/-/health');
      child.kill('SIGTERM');
      await new Promise((r) => child.once('close', r));
      const lines = out.split('\n').filter(Boolean);
      assert.ok(lines.length >= 2 && lines.every((l) => HUMAN.test(l)), out);
    } finally {
      child.kill('SIGKILL');
    }
  },
);

test('--log-format and server.log_format refuse anything but auto, human and json', async () => {
  const r = await exec(process.execPath, [CLI, 'config', '--log-format', 'pretty']);
  assert.equal(r.code, 1);
  assert.match(r.stderr.toString(), /^aptgate: USAGE: --log-format: expected auto, human or json, got "pretty"\n$/);
  const env = await exec(process.execPath, [CLI, 'config'], {
    env: { ...process.env, APTGATE_SERVER_LOG_FORMAT: 'yaml' },
  });
  assert.equal(env.code, 1);
  assert.match(env.stderr.toString(), /CONFIG_INVALID: server\.log_format: expected auto, human or json, got "yaml"/);
  const ok = await exec(process.execPath, [CLI, 'config', '--log-format', 'human']);
  assert.match(ok.stdout.toString(), /^log_format = human$/m);
  const c = defaultConfig();
  assert.equal(c.logFormat, 'auto');
  applySetting(c, 'server.log_format', 'json');
  assert.equal(c.logFormat, 'json');
  // auto decides by the terminal; an explicit choice is kept either way
  assert.deepEqual(
    [logFormatOf('auto', true), logFormatOf('auto', false), logFormatOf('json', true), logFormatOf('human', false)],
    ['human', 'json', 'json', 'human'],
  );
});

test("human lines: fields as key=value, quoted when they hold blanks, objects as JSON, an error's stack indented below", () => {
  const time = Date.UTC(2026, 11, 7, 4, 30, 12, 345);
  const line = humanLine(
    JSON.stringify({
      level: 40,
      time,
      pid: 1,
      hostname: 'h',
      reqId: 'req-1',
      msg: 'fill failed',
      key: 'debian/pool/a b.deb',
      code: 'UPSTREAM_FAILED',
      n: 3,
      ok: false,
      list: ['a', 'b'],
      empty: '',
    }) + '\n',
  );
  assert.equal(
    line,
    `${localTime(time)} WARN  fill failed key="debian/pool/a b.deb" code=UPSTREAM_FAILED n=3 ok=false list=["a","b"] empty=""\n`,
  );
  const err = new Error('boom');
  const withStack = humanLine(
    JSON.stringify({
      level: 50,
      time,
      msg: 'rpc method failed',
      err: { type: 'Error', message: err.message, stack: err.stack },
    }),
  );
  const [first, ...rest] = withStack.trimEnd().split('\n');
  assert.equal(first, `${localTime(time)} ERROR rpc method failed err=boom`);
  assert.ok(rest.length > 0 && rest.every((l) => l.startsWith('    at ')), withStack);
  // an escape sequence in a message or a value is shown, not obeyed
  assert.equal(
    humanLine(JSON.stringify({ level: 30, time, msg: 'x\u001b[2Jy', host: 'a\u001b]0;owned\u0007' })),
    `${localTime(time)} INFO  x\\u001b[2Jy host="a\\u001b]0;owned\\u0007"\n`,
  );
  // the access line: message from its fields, bytes for people
  assert.equal(
    humanLine(
      JSON.stringify({
        level: 30,
        time,
        reqId: 'r',
        msg: 'access',
        client: '10.0.0.5',
        method: 'HEAD',
        path: '/debian/dists/bookworm/InRelease',
        result: 'hit',
        status: 200,
        bytes: 1229,
        ms: 3,
        reason: 'x y',
      }),
    ),
    `${localTime(time)} INFO  HEAD /debian/dists/bookworm/InRelease 200 hit 1.2 KiB 3 ms client=10.0.0.5 reason="x y"\n`,
  );
});
