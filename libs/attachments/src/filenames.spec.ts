import { contentDisposition, CONTENT_TYPE_PATTERN, sanitizeFilename, servedAsAttachment } from './filenames';

describe('attachment filenames and types', () => {
  it('keeps only a safe base name', () => {
    expect(sanitizeFilename('../../etc/passwd')).toBe('passwd');
    expect(sanitizeFilename('C:\\Users\\ada\\report.pdf')).toBe('report.pdf');
    expect(sanitizeFilename('a\u0000b\u202ecod.exe')).toBe('abcod.exe');
    expect(sanitizeFilename('what?<is>:"this"|*.txt')).toBe('what__is___this___.txt');
    expect(sanitizeFilename('  ..hidden  ')).toBe('hidden');
    expect(sanitizeFilename('Cafe\u0301.txt')).toBe('Café.txt');
    expect(sanitizeFilename('...')).toBe('file');
    expect([...sanitizeFilename('😀'.repeat(300))]).toHaveLength(200);
  });

  it('serves anything but passive media as a download', () => {
    for (const t of [
      'text/html',
      'image/svg+xml',
      'application/xml',
      'text/xml',
      'text/javascript',
      'application/pdf',
      'application/octet-stream',
      'TEXT/HTML; charset=utf-8',
    ])
      expect({ t, attachment: servedAsAttachment(t) }).toEqual({ t, attachment: true });
    for (const t of [
      'image/png',
      'image/jpeg',
      'video/mp4',
      'audio/mpeg',
      'text/plain',
      'text/plain; charset=utf-8',
    ])
      expect({ t, attachment: servedAsAttachment(t) }).toEqual({ t, attachment: false });
  });

  it('writes an RFC 6266 Content-Disposition with an ASCII fallback', () => {
    expect(contentDisposition('a "b".html', true)).toBe(
      `attachment; filename="a _b_.html"; filename*=UTF-8''a%20%22b%22.html`,
    );
    expect(contentDisposition('café.png', false)).toBe(
      `inline; filename="caf_.png"; filename*=UTF-8''caf%C3%A9.png`,
    );
  });

  it('accepts media types with parameters and refuses anything else', () => {
    for (const t of [
      'image/png',
      'text/plain; charset=utf-8',
      'application/vnd.ms-excel',
      'multipart/form-data; boundary="x y"',
    ])
      expect(CONTENT_TYPE_PATTERN.test(t)).toBe(true);
    for (const t of ['', 'png', 'image/', '/png', 'text/plain\r\nX: y', 'a b/c'])
      expect(CONTENT_TYPE_PATTERN.test(t)).toBe(false);
  });
});
