import { AppError } from '../errors/app-error';
import { parsePageQuery } from './pagination';

function fields(fn: () => unknown): string[] {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(AppError);
    return ((err as AppError).details as { field: string }[]).map((d) => d.field);
  }
  throw new Error('expected a validation error');
}

describe('parsePageQuery', () => {
  it('defaults the limit to 50 and accepts ids as cursors', () => {
    expect(parsePageQuery({}, ['before', 'after'])).toEqual({ limit: 50 });
    expect(parsePageQuery({ before: '123', limit: '100' }, ['before'])).toEqual({
      before: '123',
      limit: 100,
    });
    expect(parsePageQuery({ after: '9223372036854775807', limit: '1' }, ['after'])).toEqual({
      after: '9223372036854775807',
      limit: 1,
    });
  });

  it('rejects limits outside 1-100 and non-numbers', () => {
    for (const limit of ['0', '101', '-1', '1.5', 'abc', '', '99999']) {
      expect(fields(() => parsePageQuery({ limit }, ['before']))).toEqual(['limit']);
    }
  });

  it('rejects bad cursors, unknown and repeated parameters, and before with after', () => {
    expect(fields(() => parsePageQuery({ before: 'x1' }, ['before']))).toEqual(['before']);
    expect(fields(() => parsePageQuery({ before: '9223372036854775808' }, ['before']))).toEqual(['before']);
    expect(fields(() => parsePageQuery({ after: '1' }, ['before']))).toEqual(['after']);
    expect(fields(() => parsePageQuery({ offset: '1' }, ['before']))).toEqual(['offset']);
    expect(fields(() => parsePageQuery({ limit: ['1', '2'] }, ['before']))).toEqual(['limit']);
    expect(fields(() => parsePageQuery({ before: '1', after: '2' }, ['before', 'after']))).toEqual(['after']);
  });
});
