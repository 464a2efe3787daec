import { findBadString, findReservedKey, normalisePath } from './configure-http';

describe('findBadString', () => {
  it.each([
    ['plain text', { a: 'hello', b: ['x', 'y'], c: { d: 'z' } }],
    ['emoji (surrogate pairs)', { a: '\u{1f600}\u{1f44d}' }],
    ['non-strings', { a: 1, b: null, c: true, d: [1.5, false] }],
    ['a top-level array', ['a', 'b']],
    ['undefined', undefined],
    ['an empty object', {}],
    ['U+FFFD and other BMP text', { a: '\ufffd\u00e9\u4e2d' }],
  ])('accepts %s', (_name, body) => {
    expect(findBadString(body)).toBeUndefined();
  });

  it.each([
    ['NUL in a value', { name: 'a\u0000b' }, 'body.name'],
    ['a lone high surrogate', { name: 'ab\ud800' }, 'body.name'],
    ['a lone low surrogate', { name: '\udc00ab' }, 'body.name'],
    ['swapped surrogates', { name: '\ude00\ud83d' }, 'body.name'],
    ['a bad string nested in an array', { list: ['ok', { deep: 'x\u0000' }] }, 'body.list[1].deep'],
    ['a bad key', { 'a\ud800': 'value' }, 'body'],
    ['a bad string at the top level', 'x\u0000', 'body'],
  ])('finds %s', (_name, body, path) => {
    expect(findBadString(body)).toBe(path);
  });

  it('reports the first bad string only', () => {
    expect(findBadString({ a: 'ok', b: 'x\u0000', c: '\ud800' })).toBe('body.b');
  });

  it('stops at nesting deeper than 32 levels instead of recursing without end', () => {
    let deep: unknown = 'leaf';
    for (let i = 0; i < 10_000; i++) deep = [deep];
    expect(findBadString(deep)).toMatch(/^body(\[0\]){33}$/);
    let shallow: unknown = 'leaf';
    for (let i = 0; i < 30; i++) shallow = { a: shallow };
    expect(findBadString(shallow)).toBeUndefined();
  });
});

describe('findReservedKey', () => {
  it.each(['__proto__', 'constructor', 'hasOwnProperty', 'toString', 'valueOf', '__defineGetter__'])(
    'finds %p',
    (key) => {
      const body = JSON.parse(`{"ok":1,"${key}":{"x":1}}`) as unknown;
      expect(findReservedKey(body)).toBe(`body.${key}`);
    },
  );

  it('finds them nested in objects and arrays', () => {
    expect(findReservedKey(JSON.parse('{"a":[{"b":{"__proto__":1}}]}'))).toBe('body.a[0].b.__proto__');
  });

  it('accepts ordinary keys, including ones that merely look alike', () => {
    expect(
      findReservedKey({ username: 'a', proto: 1, Constructor: 2, nested: [{ toString_: 3 }] }),
    ).toBeUndefined();
    expect(findReservedKey(['a', 1, null])).toBeUndefined();
    expect(findReservedKey(undefined)).toBeUndefined();
  });
});

describe('normalisePath', () => {
  it('collapses runs of slashes and decodes escaped unreserved characters, leaving the query alone', () => {
    expect(normalisePath('//api/v1//auth/%6Cogin')).toBe('/api/v1/auth/login');
    expect(normalisePath('/api/v1/auth/%4C%4f%47IN?next=%2F%2Fx//y')).toBe(
      '/api/v1/auth/LOGIN?next=%2F%2Fx//y',
    );
    expect(normalisePath('/a/%2d%2E%5f%7E%30%39%41%5A%61%7a')).toBe('/a/-._~09AZaz');
  });

  it('keeps reserved and non-ASCII escapes (a %2F is not a path separator) and bad escapes as they are', () => {
    expect(normalisePath('/api/v1/users/%2F%40me')).toBe('/api/v1/users/%2F%40me');
    expect(normalisePath('/api/v1/users/%C3%A9%ZZ%4')).toBe('/api/v1/users/%C3%A9%ZZ%4');
  });
});
