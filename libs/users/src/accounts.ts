import * as argon2 from 'argon2';
import type { EntityManager } from 'typeorm';
import { User } from './entities/user.entity';

/** OWASP's Argon2id baseline: 19 MiB, 2 passes, 1 lane. */
export const ARGON2_OPTIONS = {
  type: argon2.argon2id,
  memoryCost: 19_456,
  timeCost: 2,
  parallelism: 1,
} as const;

/** Serialises account creation just long enough to make exactly one first user the admin. */
const FIRST_USER_LOCK = '7204817310985234';

export function hashPassword(password: string): Promise<string> {
  return argon2.hash(password, ARGON2_OPTIONS);
}

/**
 * Takes the first-user lock for this transaction and tells whether a (human) account exists.
 * Every path that creates accounts (HTTP registration, the admin command) calls it first, so
 * two concurrent first registrations cannot both become admin.
 */
export async function lockAccountsAndCheckEmpty(em: EntityManager): Promise<boolean> {
  await em.query('SELECT pg_advisory_xact_lock($1)', [FIRST_USER_LOCK]);
  const [{ any }] = await em.query<[{ any: boolean }]>(
    'SELECT EXISTS (SELECT 1 FROM users WHERE NOT is_bot) AS any',
  );
  return !any;
}

/** Inserts an account; undefined when the username is taken (case-insensitively: usernames are stored lower-case). */
export async function insertUser(
  em: EntityManager,
  fields: { username: string; displayName: string; passwordHash: string; isAdmin: boolean },
): Promise<User | undefined> {
  const inserted = await em
    .createQueryBuilder()
    .insert()
    .into(User)
    .values(fields)
    .orIgnore()
    .returning(['id'])
    .execute();
  if (inserted.raw.length === 0) return undefined;
  return em.findOneByOrFail(User, { id: (inserted.raw[0] as { id: string }).id });
}
