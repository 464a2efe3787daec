import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';

export interface BuildInfo {
  /** package.json's version: what CHANGELOG.md and the image tags name. */
  version: string;
  /** The git commit the build was made from (`unknown` outside a checkout, e.g. a Docker build without CARIOSAN_COMMIT). */
  commit: string;
  /** Node.js running this process. */
  node: string;
}

function readJson(path: string): { version?: string; commit?: string } | undefined {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as { version?: string; commit?: string };
  } catch {
    return undefined;
  }
}

let cached: BuildInfo | undefined;

/** What is running: dist/build-info.json written by scripts/build.js, else package.json (tests run from source). */
export function buildInfo(): BuildInfo {
  if (cached) return cached;
  // dist/libs/core/src/build -> dist/; libs/core/src/build -> the repository root.
  const built = readJson(resolve(__dirname, '../../../../build-info.json'));
  const pkg =
    readJson(resolve(__dirname, '../../../../package.json')) ??
    readJson(resolve(__dirname, '../../../../../package.json'));
  cached = {
    version: built?.version ?? pkg?.version ?? '0.0.0',
    commit: built?.commit ?? 'unknown',
    node: process.version,
  };
  return cached;
}
