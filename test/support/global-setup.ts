import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { resolveTestServices } from './env';

export default async function globalSetup(): Promise<void> {
  const { databaseUrl, redisUrl } = await resolveTestServices(process.env);
  process.env.CARIOS_TEST_DATABASE_URL = databaseUrl ?? '';
  process.env.CARIOS_TEST_REDIS_URL = redisUrl ?? '';
  process.stdout.write(
    `\ntests run against: ${databaseUrl ? 'Postgres ' + new URL(databaseUrl).host : 'embedded PGlite'}, ` +
      `${redisUrl ? 'Redis ' + new URL(redisUrl).host : 'in-process bus'}\n`,
  );
  if (!existsSync(resolve(__dirname, '../../dist/apps/server/src/main.js'))) {
    process.stdout.write('note: dist/ is missing; e2e tests need `npm run build` first (npm test does it)\n');
  }
}
