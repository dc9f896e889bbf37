// apt's ExpressionMatches(): `/regex/` (extended, case-insensitive, unanchored) or an fnmatch
// glob with FNM_CASEFOLD (no FNM_PATHNAME: `*` also matches `/`).

const cache = new Map<string, RegExp | null>();

function globToRegExp(glob: string): RegExp {
  let out = '^';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === '*') out += '[\\s\\S]*';
    else if (c === '?') out += '[\\s\\S]';
    else if (c === '\\' && i + 1 < glob.length) out += escapeChar(glob[++i]!);
    else if (c === '[') {
      const end = glob.indexOf(']', i + 2);
      if (end === -1) {
        out += '\\[';
        continue;
      }
      let body = glob.slice(i + 1, end);
      let neg = false;
      if (body.startsWith('!') || body.startsWith('^')) {
        neg = true;
        body = body.slice(1);
      }
      out += `[${neg ? '^' : ''}${body.replace(/[\\\]^]/g, (m) => `\\${m}`)}]`;
      i = end;
    } else out += escapeChar(c);
  }
  return new RegExp(`${out}$`, 'i');
}

function escapeChar(c: string): string {
  return /[.*+?^${}()|[\]\\/-]/.test(c) ? `\\${c}` : c;
}

function compile(pattern: string): RegExp | null {
  let re = cache.get(pattern);
  if (re !== undefined) return re;
  if (pattern.length >= 2 && pattern.startsWith('/') && pattern.endsWith('/')) {
    try {
      re = new RegExp(pattern.slice(1, -1), 'i');
    } catch {
      re = null; // apt warns about an invalid regular expression and matches nothing
    }
  } else {
    re = globToRegExp(pattern);
  }
  if (cache.size > 10_000) cache.clear();
  cache.set(pattern, re);
  return re;
}

export function expressionMatches(pattern: string, value: string | undefined | null): boolean {
  if (value === undefined || value === null) return false;
  const re = compile(pattern);
  return re !== null && re.test(value);
}

/** A name that apt treats as a pattern rather than a literal package name. */
export function isPattern(name: string): boolean {
  return (name.length > 1 && name.startsWith('/') && name.endsWith('/')) || /[*[?]/.test(name);
}
