// Issue 6, the parts that need no chroot: reading a chroot's architecture and release without
// running it, paths that cannot leave the chroot, /proc/locks and mountinfo, suites renamed by
// a release upgrade, and the server's side (chroot enrolment, which jobs fit which machine).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { gzipSync } from 'node:zlib';
import { packagesText } from '../src/index/profile-record.js';
import { parseStatus } from '../src/index/status.js';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { discoverChroots, elfArchitecture, inspectChroot, runModeOf } from '../src/agent/chroot/inspect.js';
import { dpkgLockHolder, holdersIn } from '../src/agent/chroot/lock.js';
import { chrootMachineId, chrootTarget } from '../src/agent/chroot/manage.js';
import { aptCommand, aptPath, dpkgCommand } from '../src/agent/target.js';
import { mountsUnder } from '../src/agent/chroot/mounts.js';
import { insidePath, resolveIn } from '../src/agent/chroot/paths.js';
import { releaseOrder, renameSuites, stepError } from '../src/agent/release.js';
import { isAptgateError } from '../src/errors.js';
import type { MachineFacts } from '../src/protocol/wire.js';
import { faultAnswer } from '../src/rpc/faults.js';
import { startServer, testConfig, type TestServer } from './helpers/server.js';

/** A 64-byte ELF header: class, byte order, e_machine. */
function elf(is64: boolean, le: boolean, machine: number): Buffer {
  const b = Buffer.alloc(64);
  b.writeUInt32BE(0x7f454c46, 0);
  b[4] = is64 ? 2 : 1;
  b[5] = le ? 1 : 2;
  if (le) b.writeUInt16LE(machine, 18);
  else b.writeUInt16BE(machine, 18);
  return b;
}

async function fakeChroot(
  dir: string,
  o: { dpkgArch?: string; elfHeader?: Buffer; osRelease?: string },
): Promise<string> {
  for (const d of ['proc', 'var/lib/dpkg', 'usr/lib', 'usr/bin', 'etc'])
    await mkdir(path.join(dir, d), { recursive: true });
  if (o.dpkgArch)
    await writeFile(
      path.join(dir, 'var/lib/dpkg/status'),
      `Package: dpkg\nStatus: install ok installed\nArchitecture: ${o.dpkgArch}\nVersion: 1.21.22\n\n`,
    );
  if (o.elfHeader) await writeFile(path.join(dir, 'usr/bin/dpkg'), o.elfHeader);
  if (o.osRelease) {
    await writeFile(path.join(dir, 'usr/lib/os-release'), o.osRelease);
    // absolute, as some images have it: must resolve inside the chroot, not to the host's
    await symlink('/usr/lib/os-release', path.join(dir, 'etc/os-release'));
  }
  return dir;
}

describe('LTSP chroots: inspection without running anything', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'aptgate-ltsp-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("tells the architecture from dpkg's status entry, else from the ELF header, and what this host can run", async () => {
    const base = path.join(dir, 'srv-ltsp');
    await fakeChroot(path.join(base, 'amd64'), {
      dpkgArch: 'amd64',
      osRelease: 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\nVERSION_CODENAME=bookworm\n',
    });
    await fakeChroot(path.join(base, 'i386'), { elfHeader: elf(false, true, 0x03) });
    await fakeChroot(path.join(base, 'pi'), { elfHeader: elf(true, true, 0xb7) });
    await fakeChroot(path.join(base, 'blank'), {});
    await mkdir(path.join(base, 'images'), { recursive: true }); // LTSP's image directory, not a chroot
    await mkdir(path.join(base, 'no-proc'), { recursive: true });
    const { chroots, problems } = await discoverChroots([base], []);
    assert.deepEqual(problems, []);
    const by = Object.fromEntries(chroots.map((c) => [c.name, c]));
    assert.deepEqual(Object.keys(by).sort(), ['amd64', 'blank', 'i386', 'pi']);
    assert.equal(by['amd64']!.architecture, 'amd64');
    assert.equal(by['amd64']!.codename, 'bookworm');
    assert.equal(
      by['amd64']!.release,
      'Debian GNU/Linux 12 (bookworm)',
      'os-release read through an absolute link inside the chroot',
    );
    assert.equal(by['i386']!.architecture, 'i386');
    assert.equal(by['pi']!.architecture, 'arm64');
    assert.equal(by['blank']!.architecture, '');
    assert.equal(by['blank']!.run, 'unsupported');
    // what runs where
    assert.deepEqual(runModeOf('amd64', 'amd64'), { run: 'native' });
    assert.deepEqual(runModeOf('i386', 'amd64'), { run: 'linux32' });
    assert.equal(runModeOf('arm64', 'amd64').run, 'unsupported');
    assert.match(runModeOf('arm64', 'amd64').reason!, /cannot execute arm64/);
    assert.equal((await inspectChroot(path.join(base, 'pi'), 'pi', 'arm64')).run, 'native');
    // a chroot directory given directly, and a path that is nothing
    const one = await discoverChroots([path.join(base, 'i386'), path.join(dir, 'nothing-here')], ['/never/used']);
    assert.deepEqual(
      one.chroots.map((c) => c.name),
      ['i386'],
    );
    assert.match(one.problems.join('\n'), /nothing-here: not a directory/);
  });

  it('runs apt and dpkg inside the chroot: chroot(8), under linux32 for i386 on amd64, apt through the proxy but the server itself', async () => {
    const info = {
      name: 'i386',
      path: '/opt/ltsp/i386',
      architecture: 'i386',
      distribution: 'debian',
      codename: 'buster',
      release: '',
      run: 'linux32' as const,
    };
    const t = await chrootTarget(info, 'http://10.0.0.1:3142', 'http://aptgate.lan:3142');
    const apt = aptCommand(t, 'apt-get', ['-y', 'upgrade']);
    assert.deepEqual(
      [apt.file, ...apt.args],
      [
        'linux32',
        'chroot',
        '/opt/ltsp/i386',
        'apt-get',
        '-o',
        'Acquire::http::Proxy=http://10.0.0.1:3142',
        '-o',
        'Acquire::http::Proxy::aptgate.lan=DIRECT',
        '-y',
        'upgrade',
      ],
    );
    assert.equal(apt.env['LTSP_HANDLE_DAEMONS'], 'false');
    assert.equal(apt.env['APT_CONFIG'], undefined);
    const dpkg = dpkgCommand(
      await chrootTarget({ ...info, name: 'amd64', path: '/srv/ltsp/amd64', run: 'native' }, '', ''),
      ['--audit'],
    );
    assert.deepEqual([dpkg.file, ...dpkg.args], ['chroot', '/srv/ltsp/amd64', 'dpkg', '--audit']);
    assert.equal(aptPath(t, '/opt/ltsp/i386/etc/apt/keyrings/aptgate.asc'), '/etc/apt/keyrings/aptgate.asc');
    // var/run is a link to /run in a Debian chroot: its reboot-required is the chroot's, not the host's
    const root = path.join(dir, 'var-run');
    await mkdir(path.join(root, 'var'), { recursive: true });
    await mkdir(path.join(root, 'run'));
    await symlink('/run', path.join(root, 'var/run'));
    const rt = await chrootTarget({ ...info, path: root, run: 'native' }, '', '');
    assert.equal(rt.rebootRequiredFile, path.join(root, 'run/reboot-required'));
    assert.equal(rt.statusFile, path.join(root, 'var/lib/dpkg/status'));
  });

  it('reads ELF headers of the architectures Debian ships', () => {
    assert.equal(elfArchitecture(elf(true, true, 0x3e)), 'amd64');
    assert.equal(elfArchitecture(elf(false, true, 0x28)), 'armhf');
    assert.equal(elfArchitecture(elf(true, true, 0x15)), 'ppc64el');
    assert.equal(elfArchitecture(elf(true, false, 0x16)), 's390x');
    assert.equal(elfArchitecture(elf(true, true, 0xf3)), 'riscv64');
    assert.equal(elfArchitecture(Buffer.from('#!/bin/sh\nexit 0\n')), '');
  });

  it('resolves links the way chroot(2) would: never outside the chroot', async () => {
    const root = path.join(dir, 'links');
    await mkdir(path.join(root, 'etc/apt'), { recursive: true });
    await symlink('/etc', path.join(root, 'abs-etc'));
    await symlink('../../../../../../etc', path.join(root, 'etc/apt/up'));
    await symlink('loop-b', path.join(root, 'loop-a'));
    await symlink('loop-a', path.join(root, 'loop-b'));
    assert.equal(await resolveIn(root, 'abs-etc/passwd'), path.join(root, 'etc/passwd'));
    assert.equal(await resolveIn(root, 'etc/apt/up/shadow'), path.join(root, 'etc/shadow'));
    assert.equal(await resolveIn(root, '../../etc/hosts'), path.join(root, 'etc/hosts'));
    await assert.rejects(resolveIn(root, 'loop-a/x'), /too many symbolic links/);
    assert.equal(insidePath(root, path.join(root, 'etc/apt/keyrings/aptgate.asc')), '/etc/apt/keyrings/aptgate.asc');
  });

  it("finds who holds a chroot's dpkg lock in /proc/locks (as `ltsp image` does while compressing)", async () => {
    const root = await fakeChroot(path.join(dir, 'locked'), { dpkgArch: 'amd64' });
    const lock = path.join(root, 'var/lib/dpkg/lock');
    await writeFile(lock, '');
    assert.equal(await dpkgLockHolder(root), undefined);
    // perl takes an fcntl lock like dpkg (and ltsp's lockf helper) and says so on stdout
    const holder = spawn(
      'perl',
      [
        '-e',
        'use Fcntl; open(my $f, "+<", $ARGV[0]) or die; my $l = pack("s s l l l", F_WRLCK, 0, 0, 0, 0); fcntl($f, F_SETLKW, $l) or die "$!"; $| = 1; print "locked\\n"; sleep 600',
        lock,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    try {
      await new Promise<void>((resolve, reject) => {
        holder.stdout.on('data', (d: Buffer) => d.toString().includes('locked') && resolve());
        holder.on('exit', () => reject(new Error('perl exited')));
      });
      const h = await dpkgLockHolder(root);
      assert.equal(h?.pid, holder.pid);
      assert.match(h!.command, /^perl -e /);
    } finally {
      holder.kill('SIGKILL');
    }
    assert.deepEqual(
      holdersIn(
        '1: POSIX  ADVISORY  WRITE 42 fe:00:77 0 EOF\n1: -> POSIX  ADVISORY  WRITE 43 fe:00:77 0 EOF\n2: FLOCK  ADVISORY  WRITE 44 fe:00:77 0 EOF\n3: OFDLCK ADVISORY  WRITE -1 00:2c:77 0 EOF\n4: POSIX  ADVISORY  WRITE 45 00:2d:77 0 EOF\n5: POSIX  ADVISORY  WRITE 46 fe:00:777 0 EOF\n',
        77n,
      ),
      [
        { pid: 42, key: 'fe:00:77' },
        { pid: 45, key: '00:2d:77' },
      ],
      'same inode on any device (btrfs names another one); waiters, flock(2) and unowned OFD locks are not holders',
    );
  });

  it('lists the mounts under a chroot from mountinfo, deepest first, with escaped names', async () => {
    const info = [
      '22 1 0:21 / /proc rw - proc proc rw',
      '90 1 0:21 / /srv/ltsp/amd64/proc rw - proc proc rw',
      '91 1 0:5 / /srv/ltsp/amd64/dev rw - devtmpfs udev rw',
      '92 91 0:23 / /srv/ltsp/amd64/dev/pts rw - devpts devpts rw',
      '93 1 0:21 / /srv/ltsp/amd64\\040old/proc rw - proc proc rw',
      '94 1 0:21 / /srv/ltsp/amd640/proc rw - proc proc rw',
    ].join('\n');
    assert.deepEqual(await mountsUnder('/srv/ltsp/amd64', info), [
      '/srv/ltsp/amd64/dev/pts',
      '/srv/ltsp/amd64/proc',
      '/srv/ltsp/amd64/dev',
    ]);
    assert.deepEqual(await mountsUnder('/srv/ltsp/amd64 old', info), ['/srv/ltsp/amd64 old/proc']);
  });

  it('moves one release at a time when distro-info-data knows both releases, an Ubuntu LTS also to the next LTS', () => {
    const debian = releaseOrder(
      'version,codename,series,created,release,eol\n10,Buster,buster,2017\n11,Bullseye,bullseye,2019\n12,Bookworm,bookworm,2021\n13,Trixie,trixie,2023\n,Sid,sid,1993\n',
    );
    assert.deepEqual(
      debian.map((r) => r.series),
      ['buster', 'bullseye', 'bookworm', 'trixie', 'sid'],
    );
    assert.equal(stepError('bookworm', 'trixie', [debian]), undefined);
    assert.equal(stepError('trixie', 'trixie', [debian]), undefined, 'already there: dist-upgrade again');
    assert.equal(
      stepError('buster', 'trixie', [debian]),
      'trixie is not the release after buster (bullseye is): upgrade one release at a time',
    );
    assert.match(stepError('trixie', 'bookworm', [debian])!, /not the release after trixie/);
    assert.equal(stepError('bookworm', 'myrelease', [debian]), undefined, 'unknown to distro-info: not judged');
    const ubuntu = releaseOrder(
      'version,codename,series,created,release,eol\n22.04 LTS,Jammy Jellyfish,jammy,2021\n22.10,Kinetic Kudu,kinetic,2022\n23.04,Lunar Lobster,lunar,2022\n23.10,Mantic Minotaur,mantic,2023\n24.04 LTS,Noble Numbat,noble,2023\n24.10,Oracular Oriole,oracular,2024\n',
    );
    assert.equal(stepError('jammy', 'noble', [debian, ubuntu]), undefined, 'LTS to the next LTS');
    assert.equal(stepError('jammy', 'kinetic', [ubuntu]), undefined);
    assert.equal(
      stepError('kinetic', 'noble', [ubuntu]),
      'noble is not the release after kinetic (lunar is): upgrade one release at a time',
    );
    assert.equal(
      stepError('jammy', 'oracular', [ubuntu]),
      'oracular is not the release after jammy (kinetic or noble is): upgrade one release at a time',
    );
    // the real distro-info-data of this machine (Debian's package), when installed
    for (const [from, to] of [
      ['bookworm', 'trixie'],
      ['jammy', 'noble'],
      ['focal', 'jammy'],
    ]) {
      assert.equal(
        stepError(from, to, [
          releaseOrder(readFileSync('/usr/share/distro-info/debian.csv', 'utf8')),
          releaseOrder(readFileSync('/usr/share/distro-info/ubuntu.csv', 'utf8')),
        ]),
        undefined,
        `${from} -> ${to}`,
      );
    }
  });

  it('renames the suites of the running release in deb822 and one-line sources, nothing else', () => {
    const deb822 =
      'Types: deb\nURIs: http://deb.debian.org/debian\nSuites: bookworm bookworm-updates bookworm-backports\nComponents: main\n\nTypes: deb\nURIs: http://security.debian.org/debian-security\nsuites:   bookworm-security\nComponents: main bookworm\n';
    assert.equal(
      renameSuites(deb822, 'bookworm', 'trixie'),
      'Types: deb\nURIs: http://deb.debian.org/debian\nSuites: trixie trixie-updates trixie-backports\nComponents: main\n\nTypes: deb\nURIs: http://security.debian.org/debian-security\nsuites:   trixie-security\nComponents: main bookworm\n',
    );
    const oneLine =
      '# deb http://x/debian bookworm main\ndeb [arch=amd64 signed-by=/k.gpg] http://deb.debian.org/debian bookworm main\ndeb-src http://deb.debian.org/debian bookworm-updates main\ndeb http://deb.debian.org/debian stable main\ndeb http://deb.debian.org/debian bookwormish main\n';
    assert.equal(
      renameSuites(oneLine, 'bookworm', 'trixie'),
      '# deb http://x/debian bookworm main\ndeb [arch=amd64 signed-by=/k.gpg] http://deb.debian.org/debian trixie main\ndeb-src http://deb.debian.org/debian trixie-updates main\ndeb http://deb.debian.org/debian stable main\ndeb http://deb.debian.org/debian bookwormish main\n',
    );
  });
});

describe('LTSP chroots on the server: enrolment through the host, jobs that fit', () => {
  let server: TestServer;
  let dir: string;
  let clock = Date.now();
  const facts = (machineId: string, hostname = 'ltsp1'): MachineFacts => ({
    hostname,
    machineId,
    architecture: 'amd64',
    foreignArchitectures: [],
    distribution: 'debian',
    codename: 'bookworm',
    kernel: '6.1.0',
    agentVersion: 'test',
  });
  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'aptgate-ltsp-srv-'));
    server = await startServer(testConfig(dir, {}), { now: () => clock });
  });
  after(async () => {
    await server.close();
    await rm(dir, { recursive: true, force: true });
  });

  it("enrols a chroot as a child of its approved host, in the class of the host's token, and refuses identity takeovers", async () => {
    server.fleet.classes.create('ltsp');
    const token = server.fleet.enrolment.createToken({ autoApprove: true, class: 'ltsp' }).token;
    const hostId = 'a'.repeat(32);
    const host = server.fleet.enrol(token, facts(hostId));
    const cid = chrootMachineId(hostId, '/srv/ltsp/amd64');
    assert.match(cid, /^[0-9a-f]{32}$/);
    assert.notEqual(cid, chrootMachineId(hostId, '/srv/ltsp/i386'));
    const c = server.fleet.enrolChroot(host.machine, hostId, { name: 'amd64', path: '/srv/ltsp/amd64' }, facts(cid));
    assert.equal(c.status, 'approved');
    const row = server.fleet.machines.byId(c.machine)!;
    assert.equal(row.parentId, host.machine);
    assert.equal(row.hostname, 'ltsp1/amd64');
    assert.deepEqual(
      server.fleet.classes.classesOf(row).map((k) => k.name),
      ['ltsp'],
    );
    // a hostname rule reaches the chroots of a host
    server.fleet.classes.create('chroots');
    server.fleet.classes.addRule('chroots', 'hostname', 'ltsp1/*');
    assert.deepEqual(
      server.fleet.classes
        .classesOf(row)
        .map((k) => k.name)
        .sort(),
      ['chroots', 'ltsp'],
    );
    assert.ok(
      !server.fleet.classes.classesOf(server.fleet.machines.byId(host.machine)!).some((k) => k.name === 'chroots'),
    );
    // enrolling again (lost state on the host) keeps the machine, with a new secret
    const again = server.fleet.enrolChroot(
      host.machine,
      hostId,
      { name: 'amd64', path: '/srv/ltsp/amd64' },
      facts(cid),
    );
    assert.equal(again.machine, c.machine);
    assert.notEqual(again.secret, c.secret);
    // another host cannot claim the chroot's identity, nor a host's; a chroot has no chroots
    const other = server.fleet.enrol(token, facts('b'.repeat(32), 'ltsp2'));
    assert.throws(
      () =>
        server.fleet.enrolChroot(other.machine, 'b'.repeat(32), { name: 'amd64', path: '/srv/ltsp/amd64' }, facts(cid)),
      (e) => faultAnswer(e).faultCode === 6,
    );
    assert.throws(
      () => server.fleet.enrolChroot(other.machine, 'b'.repeat(32), { name: 'x', path: '/srv/ltsp/x' }, facts(hostId)),
      (e) => faultAnswer(e).faultCode === 6,
    );
    assert.throws(
      () =>
        server.fleet.enrolChroot(c.machine, cid, { name: 'nested', path: '/srv/ltsp/nested' }, facts('c'.repeat(32))),
      (e) => faultAnswer(e).faultCode === -32602,
    );
    // the host must present its own machine id
    assert.throws(
      () =>
        server.fleet.enrolChroot(
          host.machine,
          'b'.repeat(32),
          { name: 'i386', path: '/srv/ltsp/i386' },
          facts('d'.repeat(32)),
        ),
      (e) => faultAnswer(e).faultCode === 6,
    );
    // a token holder cannot take the chroot's identity over either
    assert.throws(
      () => server.fleet.enrol(token, facts(cid, 'intruder')),
      (e) => faultAnswer(e).faultCode === 6,
    );
    assert.equal(server.fleet.machines.byId(c.machine)!.hostname, 'ltsp1/amd64');
    // an os-release that could not be read does not wipe the known release
    const none = packagesText(parseStatus(''));
    const report = (codename: string) =>
      server.fleet.report(c.machine, {
        machineId: cid,
        state: 'f'.repeat(64),
        packages: { hash: none.hash, full: gzipSync(none.text), remove: [] },
        extras: {
          holds: [],
          sources: [],
          preferences: [],
          aptUpgradable: [],
          reboot: { required: false, packages: [] },
          dpkg: { audit: '', interrupted: false },
          os: { distribution: 'debian', codename },
        },
      });
    await report('');
    assert.equal(server.fleet.machines.byId(c.machine)!.codename, 'bookworm');
    await report('trixie');
    assert.equal(server.fleet.machines.byId(c.machine)!.codename, 'trixie', 'a release upgrade reaches the server');
    // no more chroots through a revoked token
    server.fleet.revokeToken(server.fleet.machines.byId(host.machine)!.tokenId!);
    assert.throws(
      () =>
        server.fleet.enrolChroot(
          host.machine,
          hostId,
          { name: 'i386', path: '/srv/ltsp/i386' },
          facts(chrootMachineId(hostId, '/srv/ltsp/i386')),
        ),
      (e) => faultAnswer(e).faultCode === 4,
    );
  });

  it("gives each kind only to the machines it fits: a host's release-upgrade covers its chroots, image-revert is for chroots", () => {
    const token = server.fleet.enrolment.createToken({ autoApprove: true }).token;
    const hostId = 'e'.repeat(32);
    const host = server.fleet.enrol(token, facts(hostId, 'ltsp3')).machine;
    const chroot = server.fleet.enrolChroot(
      host,
      hostId,
      { name: 'amd64', path: '/srv/ltsp/amd64' },
      facts(chrootMachineId(hostId, '/srv/ltsp/amd64')),
    ).machine;
    const kinds = (ids: number[]) => ids.map((id) => server.fleet.jobs.byId(id)!.machineId);
    assert.deepEqual(
      kinds(
        server.fleet.jobs.create([host, chroot], {
          kind: 'release-upgrade',
          params: { codename: 'trixie' },
          origin: 'test',
        }),
      ),
      [host],
    );
    assert.deepEqual(
      kinds(
        server.fleet.jobs.create([chroot], { kind: 'release-upgrade', params: { codename: 'trixie' }, origin: 'test' }),
      ),
      [chroot],
    );
    assert.deepEqual(kinds(server.fleet.jobs.create([host, chroot], { kind: 'image-revert', origin: 'test' })), [
      chroot,
    ]);
    assert.deepEqual(kinds(server.fleet.jobs.create([host, chroot], { kind: 'reboot', origin: 'test' })), [host]);
    assert.throws(
      () => server.fleet.jobs.create([host], { kind: 'image-revert', origin: 'test' }),
      (e) => isAptgateError(e, 'USAGE'),
    );
    // a schedule whose class holds only machines the kind does not fit fires without jobs, and
    // does not keep the other schedules from firing
    server.fleet.classes.create('only-chroots');
    server.fleet.classes.addMember('only-chroots', chroot);
    const unfit = server.fleet.schedules.add({ className: 'only-chroots', kind: 'reboot', cron: '0 3 * * *' });
    server.fleet.schedules.add({ className: 'only-chroots', kind: 'refresh', cron: '0 3 * * *' });
    clock = unfit.nextAt;
    const made = server.fleet.schedules.tick();
    assert.deepEqual(kinds(made), [chroot], 'the refresh schedule made its job');
    assert.equal(server.fleet.jobs.byId(made[0]!)!.kind, 'refresh');
    assert.deepEqual(server.fleet.schedules.tick(), [], 'both fired once');
    for (const codename of ['', 'Trixie', 'trixie-security', 'a b', '../x']) {
      assert.throws(
        () => server.fleet.jobs.create([host], { kind: 'release-upgrade', params: { codename }, origin: 'test' }),
        (e) => isAptgateError(e, 'USAGE'),
        codename,
      );
    }
  });
});
