/** Media types a browser shows inline without running anything; every other type is served as a download. */
const INLINE_TYPES = [
  /^image\/(png|jpeg|gif|webp|avif|bmp)$/,
  /^video\/(mp4|webm|ogg)$/,
  /^audio\/(mpeg|mp4|ogg|wav|webm|aac|flac)$/,
  /^text\/plain$/,
];

/** `type/subtype` with optional parameters, as a Content-Type header carries it. */
export const CONTENT_TYPE_PATTERN =
  /^[a-z0-9][a-z0-9!#$&^_.+-]{0,126}\/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}(\s*;\s*[a-z0-9!#$&^_.+-]+=("[^"\\\r\n]*"|[a-z0-9!#$&^_.+-]+))*$/i;

/** The type without parameters, lower case: `Text/HTML; charset=utf-8` is `text/html`. */
export function mediaType(contentType: string): string {
  return contentType.split(';')[0]!.trim().toLowerCase();
}

/**
 * Whether a download must carry `Content-Disposition: attachment`: anything a browser could
 * execute or render as a document of the download's origin (HTML, SVG, XML, JavaScript, PDF...),
 * that is, everything not on a short list of passive media.
 */
export function servedAsAttachment(contentType: string): boolean {
  const type = mediaType(contentType);
  return !INLINE_TYPES.some((re) => re.test(type));
}

/**
 * The client's filename made safe to keep and show: no directories, no control or
 * bidirectional-override characters, no characters Windows refuses, NFC, at most 200 characters.
 */
export function sanitizeFilename(raw: string): string {
  const base = raw.normalize('NFC').split(/[/\\]/).pop() ?? '';
  const cleaned = base
    // eslint-disable-next-line no-control-regex
    .replace(/[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069\u200e\u200f]/g, '')
    .replace(/[<>:"|?*]/g, '_')
    .replace(/\s+/g, ' ')
    .replace(/^[\s.]+|[\s.]+$/g, '');
  const chars = [...cleaned];
  const short = chars.length > 200 ? chars.slice(0, 200).join('') : cleaned;
  return short || 'file';
}

/** `attachment; filename="ascii"; filename*=UTF-8''encoded` (RFC 6266), or `inline; ...`. */
export function contentDisposition(filename: string, asAttachment: boolean): string {
  const ascii = filename.replace(/[^\x20-\x7e]|["\\%]/g, '_');
  const encoded = encodeURIComponent(filename).replace(
    /['()*]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  );
  return `${asAttachment ? 'attachment' : 'inline'}; filename="${ascii}"; filename*=UTF-8''${encoded}`;
}
