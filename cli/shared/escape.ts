/**
 * Text from recordings (names, ids, messages, file contents) reaches a terminal and an SVG file.
 * Control characters in it would act instead of being shown: an escape sequence can rewrite the
 * terminal (clear it, set its title, move the cursor) and most of them make an SVG invalid XML
 * (XML 1.0 admits only tab, line feed and carriage return below U+0020). They are shown instead, as
 * \xNN (\uNNNN for lone surrogates, which XML does not admit either).
 */

/** C0 but tab and line feed, DEL, C1 (0x9b is a one-byte CSI on some terminals), lone surrogates. */
const CONTROL =
  // biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is the point
  /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

const hex = (c: string, width: number) => c.charCodeAt(0).toString(16).padStart(width, '0');

/** Terminal text: every control character but tab and line feed made visible. */
export function visible(s: string): string {
  return s.replace(CONTROL, (c) => (c.length === 1 && c.charCodeAt(0) <= 0xff ? `\\x${hex(c, 2)}` : `\\u${hex(c, 4)}`));
}

/** JSON text (already valid JSON): DEL and C1, which JSON.stringify leaves raw, as \u escapes. */
export function visibleJson(s: string): string {
  return s.replace(/[\u007f-\u009f]/g, (c) => `\\u${hex(c, 4)}`);
}

/** One line of text: line breaks too (a name must not start a new line of the report). */
export function oneLine(s: string): string {
  return visible(s).replace(/\n/g, '\\n').replace(/\t/g, '\\t');
}
