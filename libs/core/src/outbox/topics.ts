import { SNOWFLAKE_EPOCH_MS } from '../ids/ids';

export function channelTopic(channelId: string): string {
  return `channel:${channelId}`;
}

export function userTopic(userId: string): string {
  return `user:${userId}`;
}

/** The smallest Snowflake id minted at `time`: rows with smaller ids are older. */
export function snowflakeAt(time: number): string {
  return (BigInt(Math.max(0, time - SNOWFLAKE_EPOCH_MS)) << 22n).toString();
}
