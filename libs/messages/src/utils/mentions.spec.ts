import { mentionCandidates, mentionedUsernames, resolveMentions } from './mentions';

describe('mentions', () => {
  it('finds @usernames in order, lower-cased and once each', () => {
    expect(mentionCandidates('hi @Ada and @bob_2, again @ada')).toEqual([['ada'], ['bob_2']]);
    expect(mentionCandidates('@ada: look')).toEqual([['ada']]);
    expect(mentionCandidates('(@ada)')).toEqual([['ada']]);
  });

  it('ignores emails, single characters and bare @', () => {
    expect(mentionCandidates('mail ada@example.com or @ or @a')).toEqual([]);
    expect(mentionCandidates('x@ada')).toEqual([]);
  });

  it('offers both readings of a trailing dot', () => {
    expect(mentionCandidates('thanks @ada.')).toEqual([['ada.', 'ada']]);
    expect(mentionedUsernames('thanks @ada. @bob')).toEqual(['ada.', 'ada', 'bob']);
  });

  it('resolves only to the members found, in order, without duplicates', () => {
    const members = [
      { id: '2', username: 'bob' },
      { id: '1', username: 'ada' },
    ];
    expect(resolveMentions('@bob @ghost thanks @ada. and @BOB', members)).toEqual(['2', '1']);
    expect(resolveMentions('nobody here', members)).toEqual([]);
  });
});
