// What apt and dpkg printed, read as a person reads it (C locale messages): the text a
// terminal would show, and which package failed and why when apt only says "Sub-process
// /usr/bin/dpkg returned an error code (1)". Shared by the agent (its transcripts and failure
// summaries) and the server (stored transcripts, the release gate's reasons).

/** The last state of a line rewritten in place with CR; blank states (a line being cleared) do not count. */
function lastState(line: string): string {
  if (!line.includes('\r')) return line;
  const states = line.split('\r');
  for (let i = states.length - 1; i >= 0; i--) if (states[i]!.trim() !== '') return states[i]!;
  return '';
}

/**
 * What a person reads of a program's output on a terminal: CR LF ends a line (apt runs dpkg on
 * a pseudo-terminal), and a line rewritten in place with CR (dpkg's "(Reading database ... 45%",
 * a progress bar) keeps only its last state, e.g. "(Reading database ... 12345 files and
 * directories currently installed.)". Text without CR is returned as it is.
 */
export function readableOutput(text: string): string {
  if (!text.includes('\r')) return text;
  return text.split('\n').map(lastState).join('\n');
}

export interface DpkgFailure {
  /** the package (from "new foo package ..." or the archive's file name) */
  package: string;
  /** dpkg's action: configure, unpack, install, remove, purge, ... */
  action: string;
  /** for people: "post-installation script failed (exit status 1)", or dpkg's own words */
  reason: string;
  /** a maintainer script failed (the cause, rather than a consequence such as dependency problems) */
  script: boolean;
}

// "installed foo package post-installation script subprocess returned error exit status 1"
// (dpkg >= 1.19; "new"/"old" for the archive being unpacked and the version it replaces)
const SCRIPT = /^(?:installed|new|old) (\S+) package ([a-z-]+) script subprocess (.*)$/;
// dpkg 1.18: "subprocess installed post-installation script returned error exit status 1"
const SCRIPT_OLD = /^subprocess (?:installed|new|old) ([a-z-]+) script (.*)$/;
// "dpkg (subprocess): unable to execute installed foo package post-installation script
// (/var/lib/dpkg/info/foo.postinst): No such file or directory"
const UNABLE =
  /^dpkg \(subprocess\): unable to execute (?:installed|new|old) (\S+) package ([a-z-]+) script \([^)]*\): (.*)$/;
const ERROR = /^dpkg: error processing (package|archive) (.+) \(--([a-z-]+)\):$/;

/**
 * "returned error exit status 1" → "failed (exit status 1)"; "was killed by signal (Terminated)" → "killed by signal
 * (Terminated)".
 */
function scriptOutcome(s: string): string {
  const exit = /returned error exit status (\d+)/.exec(s);
  if (exit) return `failed (exit status ${exit[1]})`;
  const sig = /(?:was )?killed by signal \(([^)]+)\)(, core dumped)?/.exec(s);
  if (sig) return `killed by signal (${sig[1]})${sig[2] ?? ''}`;
  return `failed (${s.trim()})`;
}

/** The package an archive holds, from its file name (foo_1.0-1_amd64.deb → foo). */
function archivePackage(file: string): string {
  return (file.split('/').pop() ?? file).replace(/_.*$/, '').replace(/\.deb$/, '');
}

/** Every "dpkg: error processing ..." of the output, in order, with the package and the reason. */
export function dpkgFailures(output: string): DpkgFailure[] {
  const lines = readableOutput(output).split('\n');
  const out: DpkgFailure[] = [];
  const unable = new Map<string, string>();
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trimEnd();
    const u = UNABLE.exec(line);
    if (u) {
      unable.set(`${u[1]} ${u[2]}`, u[3]!);
      continue;
    }
    const e = ERROR.exec(line);
    if (!e) continue;
    const detail = (lines[i + 1] ?? '').trim();
    let pkg = e[1] === 'package' ? e[2]! : archivePackage(e[2]!);
    let reason = detail.slice(0, 300);
    let script = false;
    const s = SCRIPT.exec(detail);
    const old = s ? null : SCRIPT_OLD.exec(detail);
    if (s) {
      pkg = s[1]!;
      script = true;
      const cannot = unable.get(`${s[1]} ${s[2]}`);
      reason = `${s[2]} script ${cannot === undefined ? scriptOutcome(s[3]!) : `could not be run (${cannot})`}`;
    } else if (old) {
      script = true;
      reason = `${old[1]} script ${scriptOutcome(old[2]!)}`;
    }
    out.push({ package: pkg, action: e[3]!, reason, script });
  }
  return out;
}

/** The packages under "Errors were encountered while processing:" (names or archive paths). */
export function dpkgErrorPackages(output: string): string[] {
  const m = /^Errors were encountered while processing:\n((?:[ \t]+\S[^\n]*\n?)+)/m.exec(readableOutput(output));
  return m
    ? [
        ...new Set(
          m[1]!
            .split('\n')
            .map((l) => l.trim())
            .filter(Boolean)
            .map((p) => (p.endsWith('.deb') ? archivePackage(p) : p)),
        ),
      ]
    : [];
}

/**
 * One line naming what dpkg failed on, the maintainer scripts first (they are the cause; the
 * dependency problems of the packages that needed them follow): "foo: post-installation script
 * failed (exit status 1); bar: dependency problems - leaving unconfigured". Undefined when
 * dpkg said nothing of the kind.
 */
export function dpkgFailureSummary(output: string, max = 3): string | undefined {
  const seen = new Set<string>();
  const failures = dpkgFailures(output).filter((f) => {
    const key = `${f.package}: ${f.reason}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
  if (!failures.length) {
    const names = dpkgErrorPackages(output);
    return names.length
      ? `dpkg failed on ${names.slice(0, 10).join(', ')}${names.length > 10 ? ', ...' : ''}`
      : undefined;
  }
  const ordered = [...failures.filter((f) => f.script), ...failures.filter((f) => !f.script)];
  const shown = ordered.slice(0, max).map((f) => `${f.package}: ${f.reason}`);
  if (ordered.length > max) shown.push(`${ordered.length - max} more`);
  return shown.join('; ');
}

/** apt's message when dpkg failed, which names neither the package nor the reason. */
export const GENERIC_DPKG_ERROR = /Sub-process \/usr\/bin\/dpkg returned an error code \(\d+\)/;
