import { loadConfig } from '../config/app-config';
import { secretScrubber } from './logging.module';

describe('secretScrubber', () => {
  it('replaces every occurrence of every secret', () => {
    const scrub = secretScrubber(['Hunter2Secret', 's3-key-value']);
    expect(
      scrub('{"msg":"auth Hunter2Secret failed","url":"postgres://u:Hunter2Secret@db","k":"s3-key-value"}'),
    ).toBe('{"msg":"auth [redacted] failed","url":"postgres://u:[redacted]@db","k":"[redacted]"}');
  });

  it('leaves lines without secrets untouched', () => {
    const line = '{"level":30,"msg":"listening"}\n';
    expect(secretScrubber(['Hunter2Secret'])(line)).toBe(line);
    expect(secretScrubber([])(line)).toBe(line);
  });

  it('ignores secrets too short to scrub without mangling ordinary text', () => {
    const scrub = secretScrubber(['', 'pw', 'abc']);
    expect(scrub('{"msg":"pw abc"}')).toBe('{"msg":"pw abc"}');
  });

  it('treats secrets as text, not patterns', () => {
    expect(secretScrubber(['a.b*c+d'])('x a.b*c+d y aXbbc+d')).toBe('x [redacted] y aXbbc+d');
  });

  it('scrubs what the configuration calls secret: database and Redis passwords (decoded) and the S3 key', () => {
    const config = loadConfig({
      CARIOS_DATABASE_URL: 'postgres://app:p%40ss%2Fword@db/chat',
      CARIOS_REDIS_URL: 'redis://:redis-pass@cache:6379',
      CARIOS_S3_BUCKET: 'chat-files',
      CARIOS_S3_ACCESS_KEY: 'AKIAEXAMPLE',
      CARIOS_S3_SECRET_KEY: 'S3SecretKeyValue',
    });
    const scrub = secretScrubber(config.secrets);
    expect(scrub('p@ss/word redis-pass S3SecretKeyValue')).toBe('[redacted] [redacted] [redacted]');
    // A printed URL shows the password percent-encoded.
    expect(scrub('postgres://app:p%40ss%2Fword@db/chat')).toBe('postgres://app:[redacted]@db/chat');
  });
});
