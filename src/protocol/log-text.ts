/**
 * Text that reaches the hub's log in one piece. Log lines carry hub-chosen text (environment
 * names, arguments); a raw newline, carriage return, escape sequence or Unicode line separator
 * would let it forge lines or rewrite a terminal. Pure.
 */

// C0 controls, DEL, C1 controls (NEL U+0085 among them), and U+2028/U+2029, which Python's
// str.splitlines() and many log viewers treat as line breaks.
// eslint-disable-next-line no-control-regex
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g;

const NAMED: Readonly<Record<string, string>> = { "\n": "\\n", "\r": "\\r", "\t": "\\t", "\u001b": "\\e" };

/** `text` with every unsafe character written as an escape (\n, \r, \t, \e, \xHH or \uHHHH). */
export function escapeControls(text: string): string {
  return text.replace(UNSAFE, (c) => {
    const named = NAMED[c];
    if (named !== undefined) return named;
    const code = c.charCodeAt(0);
    return code <= 0xff ? `\\x${code.toString(16).padStart(2, "0")}` : `\\u${code.toString(16).padStart(4, "0")}`;
  });
}

/** At most `max` characters of hub-chosen text for a log line, escaped. */
export function logExcerpt(text: string, max = 100): string {
  const escaped = escapeControls(text.length > max ? text.slice(0, max) : text);
  return text.length > max ? `${escaped}… (${text.length} characters)` : escaped;
}
