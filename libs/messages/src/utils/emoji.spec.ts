import { isReactionEmoji } from './emoji';

describe('isReactionEmoji', () => {
  it.each(['👍', '👍🏽', '❤️', '❤', '🇫🇷', '👩‍💻', '👨‍👩‍👧‍👦', '1️⃣', '#️⃣', '🏴󠁧󠁢󠁳󠁣󠁴󠁿', '🎉', '😀', '©️'])(
    'accepts %s',
    (e) => {
      expect(isReactionEmoji(e)).toBe(true);
    },
  );

  it.each([
    '',
    'a',
    '1',
    '#',
    ':+1:',
    '👍👍',
    '👍 ',
    ' 👍',
    'ab',
    '🇫',
    '🇫🇷🇩🇪',
    '\u200D',
    'x'.repeat(40),
    '\uFE0F',
  ])('rejects %j', (e) => {
    expect(isReactionEmoji(e)).toBe(false);
  });
});
