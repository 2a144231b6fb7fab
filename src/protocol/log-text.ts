/**
 * Text that reaches a log or a terminal in one piece. Log lines carry hub-chosen text (environment
 * names, arguments), and the admin tools print what users control (a server's name, its output);
 * a raw newline, carriage return, escape sequence, Unicode line separator or bidi override would let
 * it forge lines, rewrite a terminal or reorder what a reader sees. Pure.
 */

// C0 controls, DEL, C1 controls (NEL U+0085 among them), U+2028/U+2029, which Python's
// str.splitlines() and many log viewers treat as line breaks, and the bidi embeddings, overrides
// and isolates (U+202A-U+202E, U+2066-U+2069).
// eslint-disable-next-line no-control-regex
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

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

/** Text for an admin's terminal: escapeControls line by line, so that its own line breaks stay. */
export function terminalText(text: string): string {
  return text.split("\n").map(escapeControls).join("\n");
}

/** At most `max` characters of hub-chosen text for a log line, escaped. */
export function logExcerpt(text: string, max = 100): string {
  const escaped = escapeControls(text.length > max ? text.slice(0, max) : text);
  return text.length > max ? `${escaped}… (${text.length} characters)` : escaped;
}
