/**
 * Whether an error means a dependency (Postgres, Redis) is unreachable, overloaded or refused the
 * work for now, so the request may simply be retried: the API answers 503 `unavailable` with
 * Retry-After for these, never 500. The one place that decides it.
 */

/** SQLSTATE classes: connection exceptions (08), insufficient resources (53), operator intervention (57P: admin shutdown, crash, cannot connect now). */
const OUTAGE_SQLSTATE_CLASSES = ['08', '53', '57P'];

const OUTAGE_SQLSTATES = new Set([
  '57014', // query_canceled: statement_timeout
  '55P03', // lock_not_available: lock_timeout
  '40001', // serialization_failure
  '40P01', // deadlock_detected
  '25006', // read_only_sql_transaction: a standby or a read-only failover target
  '25P03', // idle_in_transaction_session_timeout
]);

const OUTAGE_ERRNOS = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
]);

const OUTAGE_NAMES = new Set([
  'QueryRunnerAlreadyReleasedError', // TypeORM: the transaction's connection died under it
  'MaxRetriesPerRequestError', // ioredis
]);

const OUTAGE_MESSAGES = [
  /Connection terminated/i, // pg: the backend went away (also "due to connection timeout")
  /timeout exceeded when trying to connect/i, // pg-pool: no connection free in time
  /Client has encountered a connection error and is not queryable/i,
  /Cannot use a pool after calling end/i,
  /Connection is closed/i, // ioredis
  /Stream isn't writeable/i, // ioredis without an offline queue
  /MaxRetriesPerRequest/i,
  /Command timed out/i,
  /bus publish .* no answer/i, // RedisBus' own publish timeout
];

export function isOutage(err: unknown, depth = 0): boolean {
  if (!err || typeof err !== 'object' || depth > 3) return false;
  const e = err as {
    code?: unknown;
    name?: unknown;
    message?: unknown;
    driverError?: unknown;
    cause?: unknown;
  };
  if (typeof e.code === 'string') {
    if (OUTAGE_SQLSTATES.has(e.code) || OUTAGE_ERRNOS.has(e.code)) return true;
    if (/^[0-9A-Z]{5}$/.test(e.code) && OUTAGE_SQLSTATE_CLASSES.some((c) => (e.code as string).startsWith(c)))
      return true;
  }
  if (typeof e.name === 'string' && OUTAGE_NAMES.has(e.name)) return true;
  if (typeof e.message === 'string' && OUTAGE_MESSAGES.some((re) => re.test(e.message as string)))
    return true;
  return isOutage(e.driverError, depth + 1) || isOutage(e.cause, depth + 1);
}

/**
 * What an error may say in a log line: its type, message and code. Never the whole object: a
 * TypeORM QueryFailedError carries the statement's parameters (token hashes, message text).
 */
export function describeError(err: unknown): { type: string; message: string; code?: string } {
  if (err && typeof err === 'object') {
    const e = err as { name?: unknown; message?: unknown; code?: unknown; constructor?: { name?: string } };
    return {
      type: typeof e.name === 'string' ? e.name : (e.constructor?.name ?? 'Error'),
      message: typeof e.message === 'string' ? e.message : Object.prototype.toString.call(err),
      ...(typeof e.code === 'string' ? { code: e.code } : {}),
    };
  }
  return { type: typeof err, message: String(err) };
}
