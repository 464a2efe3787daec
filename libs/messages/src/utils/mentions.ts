/** `@name` preceded by a start, space or punctuation other than characters of a username or an email. */
const MENTION = /(?<![\p{L}\p{N}_.@-])@([a-z0-9_.-]{2,32})/giu;

/**
 * The usernames a text may mention, in order of first appearance, lower-cased. A trailing
 * "." or "-" is ambiguous ("ping @ada." vs user "ada."), so both readings are candidates.
 */
export function mentionCandidates(content: string): string[][] {
  const out: string[][] = [];
  const seen = new Set<string>();
  for (const m of content.matchAll(MENTION)) {
    const full = m[1]!.toLowerCase();
    if (seen.has(full)) continue;
    seen.add(full);
    const trimmed = full.replace(/[.-]+$/, '');
    out.push(trimmed !== full && trimmed.length >= 2 ? [full, trimmed] : [full]);
  }
  return out;
}

/** Every username worth looking up for `content`. */
export function mentionedUsernames(content: string): string[] {
  return [...new Set(mentionCandidates(content).flat())];
}

/** Resolves candidates against the members found: ids in order of first mention, no duplicates. */
export function resolveMentions(content: string, members: { id: string; username: string }[]): string[] {
  const byName = new Map(members.map((m) => [m.username, m.id]));
  const ids: string[] = [];
  for (const alternatives of mentionCandidates(content)) {
    const id = alternatives.map((a) => byName.get(a)).find((x) => x !== undefined);
    if (id !== undefined && !ids.includes(id)) ids.push(id);
  }
  return ids;
}
