/**
 * Runs the contract validators in a plain Node process: swagger-parser and its $ref parser ship
 * as ES modules only, which Jest's CommonJS runtime cannot load.
 *
 *   node test/support/contracts.mjs openapi <file>       validate an OpenAPI document
 *   node test/support/contracts.mjs dereference <file>   print it with every $ref inlined
 *   node test/support/contracts.mjs asyncapi <file>      parse an AsyncAPI document
 *
 * Prints one JSON object: {ok, errors, document?}.
 */
import { readFileSync } from 'node:fs';

const [kind, file] = process.argv.slice(2);
const text = readFileSync(file, 'utf8');
const out = (result) => process.stdout.write(JSON.stringify(result));

try {
  if (kind === 'openapi' || kind === 'dereference') {
    const { default: SwaggerParser } = await import('@apidevtools/swagger-parser');
    const doc = JSON.parse(text);
    if (kind === 'openapi') {
      await SwaggerParser.validate(doc);
      out({ ok: true, errors: [] });
    } else {
      out({ ok: true, errors: [], document: await SwaggerParser.dereference(doc) });
    }
  } else if (kind === 'asyncapi') {
    const { Parser } = await import('@asyncapi/parser');
    const { document, diagnostics } = await new Parser().parse(text);
    // Severity 0 is an error, 1 a warning: both count.
    const errors = diagnostics
      .filter((d) => d.severity <= 1)
      .map((d) => `${d.message} at ${d.path.join('.')}`);
    out({ ok: Boolean(document) && errors.length === 0, errors, version: document?.version() });
  } else {
    throw new Error(`unknown kind ${kind}`);
  }
} catch (err) {
  out({ ok: false, errors: [String(err?.message ?? err)] });
}
