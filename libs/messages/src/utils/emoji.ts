/** One emoji "element" (a lone regional indicator is not one): a pictograph with an optional presentation selector or skin tone. */
const ELEMENT = String.raw`(?!\p{Regional_Indicator})(?:\p{Extended_Pictographic}|\p{Emoji_Presentation})(?:\uFE0F|\p{Emoji_Modifier})?`;
/** A single emoji: keycap, flag (regional-indicator pair), or ZWJ sequence of elements with optional tag sequence (subdivision flags). */
const EMOJI = new RegExp(
  String.raw`^(?:[#*0-9]\uFE0F?\u20E3|\p{Regional_Indicator}{2}|${ELEMENT}(?:\u200D${ELEMENT})*(?:[\u{E0020}-\u{E007E}]+\u{E007F})?)$`,
  'u',
);

const segmenter = new Intl.Segmenter('en', { granularity: 'grapheme' });

/** Longest emoji accepted, in UTF-16 units (long ZWJ families are about 11). */
export const MAX_EMOJI_LENGTH = 32;

/** True when `value` is exactly one emoji grapheme (reaction keys: "👍", "👍🏽", "🇫🇷", "👩‍💻", "1️⃣"). */
export function isReactionEmoji(value: string): boolean {
  if (value.length === 0 || value.length > MAX_EMOJI_LENGTH) return false;
  let graphemes = 0;
  for (const segment of segmenter.segment(value)) if (segment && ++graphemes > 1) return false;
  return EMOJI.test(value);
}
