// The agent's configuration file (/etc/aptgate-agent/agent.conf): `key = value` lines, `#`
// comments; APTGATE_AGENT_CONFIG names another file. Without `server` the agent uses the one
// it enrolled with.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fail, isAptgateError } from '../errors.js';
import { closest } from '../suggest.js';
import type { RefreshSetting } from './chroot/refresh.js';
import { targetAt } from './target.js';
import type { AptTarget } from './types.js';

export interface AgentConfig {
  /** the aptgate server, e.g. http://aptgate.example:3142 */
  server: string;
  /** CA certificate (PEM) for an https server with its own certificate */
  caFile: string;
  /** identity, state and spooled results; root only */
  stateDir: string;
  /** the system apt and dpkg act on ("/"; tests and chroots use another) */
  root: string;
  /** APT_CONFIG for every apt call (a separate root's apt.conf) */
  aptConfig: string;
  /** options for every dpkg call (and for apt's dpkg), e.g. --root=/srv/root */
  dpkgOptions: string[];
  /** where the machine id is read */
  machineIdFile: string;
  /** the command a reboot job runs */
  rebootCommand: string[];
  /** seconds an HTTP call to the server may take */
  timeoutS: number;
  /** the name reported instead of the system's hostname */
  hostname: string;
  /** LTSP chroots to manage (chroot directories, or base directories holding them); none: /opt/ltsp and /srv/ltsp */
  chroots: string[];
  /** manage LTSP chroots at all */
  manageChroots: boolean;
  /** the proxy apt inside a chroot uses (default: the aptgate server itself) */
  chrootProxy: string;
  /** what runs after a chroot's kernel or initramfs changed */
  chrootRefresh: RefreshSetting;
}

export const DEFAULT_CONFIG_FILE = '/etc/aptgate-agent/agent.conf';

export function defaultAgentConfig(): AgentConfig {
  return {
    server: '',
    caFile: '',
    stateDir: '/var/lib/aptgate-agent',
    root: '/',
    aptConfig: '',
    dpkgOptions: [],
    machineIdFile: '/etc/machine-id',
    rebootCommand: ['systemctl', 'reboot'],
    timeoutS: 60,
    hostname: '',
    chroots: [],
    manageChroots: true,
    chrootProxy: '',
    chrootRefresh: 'auto',
  };
}

const KNOWN = [
  'server',
  'ca_file',
  'state_dir',
  'root',
  'apt_config',
  'dpkg_option',
  'machine_id_file',
  'reboot_command',
  'hostname',
  'timeout',
  'chroot',
  'manage_chroots',
  'chroot_proxy',
  'chroot_refresh',
];

/** Every mistake of the file is reported at once, each with file:line (and a suggestion for an unknown setting). */
export function parseAgentConfig(text: string, file: string): AgentConfig {
  const c = defaultAgentConfig();
  const problems: string[] = [];
  text.split('\n').forEach((raw, i) => {
    try {
      parseLine(c, raw, file, i);
    } catch (err) {
      if (!isAptgateError(err, 'CONFIG_INVALID')) throw err;
      problems.push(err.message);
    }
  });
  if (problems.length === 1) fail('CONFIG_INVALID', problems[0]!, { errors: problems });
  if (problems.length > 1)
    fail('CONFIG_INVALID', `${problems.length} problems:\n  ${problems.join('\n  ')}`, { errors: problems });
  return c;
}

function parseLine(c: AgentConfig, raw: string, file: string, i: number): void {
  const line = raw.trim();
  if (!line || line.startsWith('#')) return;
  const m = /^([a-z_]+)\s*=\s*(.*)$/.exec(line);
  if (!m) fail('CONFIG_INVALID', `${file}:${i + 1}: expected "key = value"`);
  const [, key, value] = m as unknown as [string, string, string];
  const abs = () => {
    if (!path.isAbsolute(value)) fail('CONFIG_INVALID', `${file}:${i + 1}: ${key} must be an absolute path`);
    return value;
  };
  switch (key) {
    case 'server':
      if (!/^https?:\/\/[^\s/]+\/?$/.test(value))
        fail('CONFIG_INVALID', `${file}:${i + 1}: server must be http(s)://host[:port]`);
      c.server = value.replace(/\/$/, '');
      break;
    case 'ca_file':
      c.caFile = abs();
      break;
    case 'state_dir':
      c.stateDir = abs();
      break;
    case 'root':
      c.root = abs();
      break;
    case 'apt_config':
      c.aptConfig = abs();
      break;
    case 'dpkg_option':
      c.dpkgOptions.push(value);
      break;
    case 'machine_id_file':
      c.machineIdFile = abs();
      break;
    case 'reboot_command':
      c.rebootCommand = value.split(/\s+/).filter(Boolean);
      break;
    case 'hostname':
      if (!/^[A-Za-z0-9][A-Za-z0-9.-]{0,62}$/.test(value))
        fail('CONFIG_INVALID', `${file}:${i + 1}: hostname is a host name`);
      c.hostname = value;
      break;
    case 'timeout':
      if (!/^\d+$/.test(value) || Number(value) < 1) fail('CONFIG_INVALID', `${file}:${i + 1}: timeout is seconds`);
      c.timeoutS = Number(value);
      break;
    case 'chroot':
      c.chroots.push(abs());
      break;
    case 'manage_chroots':
      if (!/^(yes|no)$/.test(value)) fail('CONFIG_INVALID', `${file}:${i + 1}: manage_chroots is yes or no`);
      c.manageChroots = value === 'yes';
      break;
    case 'chroot_proxy':
      if (!/^https?:\/\/[^\s/]+\/?$/.test(value))
        fail('CONFIG_INVALID', `${file}:${i + 1}: chroot_proxy must be http(s)://host[:port]`);
      c.chrootProxy = value.replace(/\/$/, '');
      break;
    case 'chroot_refresh': {
      const argv = value.split(/\s+/).filter(Boolean);
      if (value === 'auto' || value === 'none') c.chrootRefresh = value;
      else if (argv.length && path.isAbsolute(argv[0]!)) c.chrootRefresh = argv;
      else
        fail(
          'CONFIG_INVALID',
          `${file}:${i + 1}: chroot_refresh is auto, none, or a command with an absolute path ({name} and {path} are replaced)`,
        );
      break;
    }
    default: {
      const near = closest(key, KNOWN);
      fail(
        'CONFIG_INVALID',
        `${file}:${i + 1}: unknown setting "${key}"${near ? ` (did you mean "${near}"?)` : ` (known: ${KNOWN.join(', ')})`}`,
      );
    }
  }
}

export function loadAgentConfig(file = process.env['APTGATE_AGENT_CONFIG'] ?? DEFAULT_CONFIG_FILE): AgentConfig {
  let text = '';
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT')
      fail('CONFIG_INVALID', `cannot read ${file}: ${(err as Error).message}`);
  }
  return parseAgentConfig(text, file);
}

/** What apt and dpkg act on, from the configuration. */
export function targetOf(c: AgentConfig): AptTarget {
  return targetAt(c.root, {
    aptOptions: [],
    env: c.aptConfig ? { APT_CONFIG: c.aptConfig } : {},
    dpkgOptions: c.dpkgOptions,
  });
}
