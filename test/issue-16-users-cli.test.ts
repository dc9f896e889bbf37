// Issue 16: `aptgate users` and `aptgate audit` as real processes over a state directory made as
// serve makes it. The password comes on stdin (or a terminal: a real pty through python3's pty
// module, asked twice, never echoed), never as an argument; listings never show a hash; every
// change leaves an audit entry by "local <unix user>"; mistakes are USAGE with aptgate's exit
// status and change nothing.
import assert from 'node:assert/strict';
import { readFile, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { AccessService } from '../src/access/accounts.js';
import { openDb } from '../src/state/db.js';
import { exitStatuses } from '../src/term/exit-status.js';
import { exec } from './helpers/exec.js';
import { projectRoot } from './helpers/paths.js';

const CLI = path.join(projectRoot, 'dist', 'src', 'cli', 'main.js');
const USAGE_EXIT = exitStatuses.aptgate.usage;
const ME = `local ${os.userInfo().username}`;
const ALICE_PW = 'alice has a long password';
const BOB_PW = 'bob-password-1';
const BOB_PW2 = 'bob-password-2-new';

let dir: string;
const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('APTGATE_')));

async function cli(args: string[], input?: string) {
  const r = await exec(process.execPath, [CLI, ...args, '--state-dir', dir], {
    env,
    cwd: dir,
    timeoutMs: 60_000,
    ...(input === undefined ? {} : { input }),
  });
  return { code: r.code, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
}

async function ok(args: string[], input?: string): Promise<string> {
  const r = await cli(args, input);
  assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

async function usage(args: string[], input?: string, pattern?: RegExp): Promise<void> {
  const r = await cli(args, input);
  assert.equal(r.code, USAGE_EXIT, `${args.join(' ')}: exit ${r.code} ${r.stderr}`);
  assert.match(r.stderr, /^aptgate: USAGE: /);
  if (pattern) assert.match(r.stderr, pattern);
}

const userList = async () =>
  (JSON.parse(await ok(['users', 'list', '--json'])) as { users: Array<{ name: string; role: string }> }).users.map(
    (u) => `${u.name}:${u.role}`,
  );

before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'aptgate-i16-cli-'));
  // the database as `aptgate serve` leaves it (administrative commands never create one)
  openDb(path.join(dir, 'aptgate.db')).close();
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('issue 16: aptgate users and aptgate audit', () => {
  it('adds users with the password on stdin; lists them without hashes; refuses bad input with USAGE', async () => {
    assert.match(await ok(['users', 'list']), /^no users yet: aptgate users add NAME --role admin/);
    assert.match(
      await ok(['users', 'add', 'alice', '--role', 'admin'], `${ALICE_PW}\n`),
      /^user alice added \(admin\)/,
    );
    // one line: what follows it is not part of the password; a CRLF line ending is not either
    assert.match(
      await ok(['users', 'add', 'bob', '--role', 'viewer', '--json'], `${BOB_PW}\r\nsecond line\n`),
      /"role": "viewer"/,
    );

    await usage(
      ['users', 'add', 'carol', '--role', 'root'],
      'a long enough password\n',
      /role: expected viewer, operator, admin/,
    );
    await usage(['users', 'add', 'carol', '--role', 'viewer'], 'short\n', /too short/);
    await usage(['users', 'add', 'carol', '--role', 'viewer'], '', /no password on stdin/);
    await usage(['users', 'add', 'Carol', '--role', 'viewer'], 'a long enough password\n', /user name/);
    await usage(['users', 'add', 'bob', '--role', 'viewer'], 'a long enough password\n', /exists already/);
    await usage(['users', 'role', 'bob', 'superuser']);
    // the last admin stays
    await usage(['users', 'role', 'alice', 'viewer'], undefined, /last admin/);
    await usage(['users', 'remove', 'alice'], undefined, /last admin/);
    const r = await cli(['users', 'remove', 'nobody']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^aptgate: NOT_FOUND: /);
    assert.deepEqual(await userList(), ['alice:admin', 'bob:viewer'], 'nothing changed by the refused commands');

    const human = await ok(['users', 'list']);
    assert.match(human, /^NAME\s+ROLE\s+CREATED\s+CHANGED\nalice\s+admin\s+\d{4}-\d\d-\d\d \d\d:\d\d/);
    const json = await ok(['users', 'list', '--json']);
    for (const text of [human, json]) {
      assert.ok(!/scrypt|hash/i.test(text), text);
      assert.ok(!text.includes(ALICE_PW) && !text.includes(BOB_PW));
    }
  });

  it('changes roles and passwords (the old password stops working), removes users', async () => {
    assert.match(await ok(['users', 'role', 'bob', 'admin']), /^user bob changed \(admin\)/);
    assert.match(await ok(['users', 'passwd', 'bob'], `${BOB_PW2}\n`), /^user bob has a new password/);
    await usage(['users', 'passwd', 'bob'], 'tiny\n', /too short/);
    assert.match(await ok(['users', 'remove', 'alice']), /^user alice removed/);
    assert.deepEqual(await userList(), ['bob:admin']);

    const db = openDb(path.join(dir, 'aptgate.db'));
    try {
      const access = new AccessService(db, { sessionIdleMs: 3_600_000, sessionMaxMs: 86_400_000 });
      await assert.rejects(access.login('bob', BOB_PW, '192.0.2.1'), { code: 'UNAUTHENTICATED' });
      assert.equal((await access.login('bob', BOB_PW2, '192.0.2.1')).role, 'admin');
      await assert.rejects(access.login('alice', ALICE_PW, '192.0.2.1'), { code: 'UNAUTHENTICATED' });
    } finally {
      db.close();
    }
    // no password in the database or its write-ahead log, only hashes
    for (const f of ['aptgate.db', 'aptgate.db-wal']) {
      const bytes = await readFile(path.join(dir, f)).catch(() => Buffer.alloc(0));
      for (const pw of [ALICE_PW, BOB_PW, BOB_PW2]) assert.ok(!bytes.includes(pw), `${pw} in ${f}`);
    }
  });

  it('a terminal is asked twice without echo; two different answers change nothing', async () => {
    const pty = (args: string[], answers: string[]) =>
      exec('python3', ['-c', PTY_DRIVER, JSON.stringify(answers), process.execPath, CLI, ...args, '--state-dir', dir], {
        env,
        cwd: dir,
        timeoutMs: 60_000,
      });
    let r = await pty(['users', 'add', 'carol', '--role', 'operator'], ['carol on a tty 1', 'carol on a tty 1']);
    let out = r.stdout.toString();
    assert.equal(r.code, 0, out);
    assert.match(out, /password for carol: /);
    assert.match(out, /password for carol \(again\): /);
    assert.match(out, /user carol added \(operator\)/);
    assert.ok(!out.includes('carol on a tty'), `echoed: ${out}`);

    r = await pty(['users', 'add', 'dave', '--role', 'viewer'], ['dave password one', 'dave password two']);
    out = r.stdout.toString();
    assert.equal(r.code, USAGE_EXIT, out);
    assert.match(out, /USAGE: the two passwords differ/);
    assert.ok(!out.includes('dave password'), `echoed: ${out}`);
    assert.deepEqual(await userList(), ['bob:admin', 'carol:operator']);
  });

  it('every change is in the audit log, by the local user, with its result and no secret', async () => {
    const all = JSON.parse(await ok(['audit', '--json'])) as {
      entries: Array<{ actor: string; actorKind: string; action: string; result: string; args: unknown; at: string }>;
    };
    const rows = all.entries.map((e) => `${e.action} ${e.result} ${JSON.stringify(e.args)}`);
    // newest first; listings and the refused command-line mistakes before any database work are not recorded
    assert.deepEqual(rows.slice(0, 6), [
      'users.add ok {"name":"carol","role":"operator"}',
      'users.remove ok {"name":"alice"}',
      'users.passwd USAGE {"name":"bob"}',
      'users.passwd ok {"name":"bob"}',
      'users.role ok {"name":"bob","role":"admin"}',
      'users.remove NOT_FOUND {"name":"nobody"}',
    ]);
    assert.ok(rows.includes('users.add ok {"name":"alice","role":"admin"}'));
    assert.ok(rows.includes('users.role USAGE {"name":"alice","role":"viewer"}'));
    assert.ok(all.entries.every((e) => e.actor === ME && e.actorKind === 'local'));
    assert.ok(all.entries.every((e) => !Number.isNaN(Date.parse(e.at))));
    const text = JSON.stringify(all);
    for (const pw of [ALICE_PW, BOB_PW, BOB_PW2, 'carol on a tty 1']) assert.ok(!text.includes(pw), pw);

    const actions = async (args: string[]) =>
      (JSON.parse(await ok(['audit', '--json', ...args])) as { entries: Array<{ action: string }> }).entries.map(
        (e) => e.action,
      );
    assert.deepEqual(await actions(['--action', 'users.passwd']), ['users.passwd', 'users.passwd']);
    assert.deepEqual(await actions(['--action', 'users', '--limit', '2']), ['users.add', 'users.remove']);
    assert.equal((await actions(['--since', '1d'])).length, all.entries.length);
    assert.deepEqual(await actions(['--since', '2999-01-01']), []);
    assert.deepEqual(await actions(['--user', 'nobody']), []);
    assert.equal((await actions(['--user', ME])).length, all.entries.length);
    const human = await ok(['audit', '--limit', '1']);
    assert.match(human, /^WHEN\s+WHO\s+FROM\s+ACTION\s+RESULT\s+ARGUMENTS\n/);
    assert.ok(human.includes(`${ME}  -     users.add`), human);
    await usage(['audit', '--since', 'yesterday']);
    await usage(['audit', '--limit', '0']);
    await usage(['audit', '--action', 'users; DROP TABLE audit']);
  });
});

/** Runs argv[2:] on a pseudo-terminal, answers each prompt with one of argv[1] (JSON), prints all it saw. */
const PTY_DRIVER = `
import json, os, pty, sys
answers = json.loads(sys.argv[1])
pid, fd = pty.fork()
if pid == 0:
    os.execv(sys.argv[2], sys.argv[2:])
seen = b''
def more():
    global seen
    try:
        c = os.read(fd, 4096)
    except OSError:
        return False
    seen += c
    return bool(c)
for a in answers:
    n = seen.count(b': ')
    while seen.count(b': ') == n and more():
        pass
    os.write(fd, a.encode() + b'\\r')
while more():
    pass
_, status = os.waitpid(pid, 0)
sys.stdout.write(seen.decode('utf-8', 'replace'))
sys.exit(os.waitstatus_to_exitcode(status))
`;
