import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const ROOT = join(__dirname, '../../../..');
const names = (text: string, pattern: RegExp) =>
  [...new Set([...text.matchAll(pattern)].map((m) => m[1]!))].sort();

describe('.env.example', () => {
  it('lists exactly the variables the config reads', () => {
    const read = names(readFileSync(join(__dirname, 'app-config.ts'), 'utf8'), /'(CARIOS_[A-Z0-9_]+)'/g);
    const documented = names(readFileSync(join(ROOT, '.env.example'), 'utf8'), /^#? ?(CARIOS_[A-Z0-9_]+)=/gm);
    expect(read.length).toBeGreaterThan(20);
    expect(documented).toEqual(read);
  });

  it('is documented in docs/api.md, every variable and no other', () => {
    const read = names(readFileSync(join(__dirname, 'app-config.ts'), 'utf8'), /'(CARIOS_[A-Z0-9_]+)'/g);
    const md = readFileSync(join(ROOT, 'docs/api.md'), 'utf8');
    const section = md.slice(md.indexOf('\n## Configuration'));
    expect(names(section, /`(CARIOS_[A-Z0-9_]+)`/g)).toEqual(read);
  });

  it('passes every server variable through docker-compose.yml', () => {
    const read = names(readFileSync(join(__dirname, 'app-config.ts'), 'utf8'), /'(CARIOS_[A-Z0-9_]+)'/g);
    const compose = names(
      readFileSync(join(ROOT, 'docker-compose.yml'), 'utf8'),
      /^\s+(CARIOS_[A-Z0-9_]+):/gm,
    );
    expect(compose).toEqual(read);
  });
});
