// Strings that came from clients (agents, mirrors) reach the administrator's terminal only with
// their control characters made visible: an ESC, CR, backspace, C1 control or bidi override
// could otherwise clear the screen, set the window title, overwrite a line or reorder text.
// The notation is JSON's: \n \r \t \b \f, every other one as \uXXXX (ESC is \u001b), so the
// human output and --json show the same thing; --json gives the exact data.

// C0, DEL and C1 (Cc), format characters such as bidi overrides, zero-width marks and the BOM
// (Cf), and the Unicode line and paragraph separators (Zl, Zp)
const CONTROL = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/gu;
const SHORT: Record<string, string> = { '\b': '\\b', '\t': '\\t', '\n': '\\n', '\f': '\\f', '\r': '\\r' };

function escape(ch: string): string {
  const short = SHORT[ch];
  if (short) return short;
  // one \uXXXX per UTF-16 unit: a format character beyond the BMP (tags) as its surrogate pair, as JSON writes it
  let out = '';
  for (let i = 0; i < ch.length; i++) out += `\\u${ch.charCodeAt(i).toString(16).padStart(4, '0')}`;
  return out;
}

/** One line of client text: every control and format character escaped, newlines too. */
export function visible(s: string | null | undefined): string {
  if (s === null || s === undefined) return '';
  return s.replace(CONTROL, escape);
}

/** Multi-line text (a transcript, a whole output): like visible() but newlines and tabs stay. */
export function visibleText(s: string): string {
  return s.replace(CONTROL, (ch) => (ch === '\n' || ch === '\t' ? ch : escape(ch)));
}
