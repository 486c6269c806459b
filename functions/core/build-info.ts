/**
 * What was built: the version (package.json's) and the source commit. The shipped bundle has both
 * written in by esbuild.config.ts (`define`); run from source (`npm run dev`, tests) the version is
 * read from package.json and the commit from RG_BUILD_COMMIT, else `unknown`.
 */
import { readFileSync } from 'node:fs';

declare const RG_BUILD_VERSION: string | undefined;
declare const RG_BUILD_COMMIT: string | undefined;

function sourceVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
      version?: unknown;
    };
    return typeof pkg.version === 'string' ? pkg.version : 'unknown';
  } catch {
    return 'unknown';
  }
}

export const BUILD: { version: string; commit: string } = {
  version: typeof RG_BUILD_VERSION === 'string' ? RG_BUILD_VERSION : sourceVersion(),
  commit: typeof RG_BUILD_COMMIT === 'string' ? RG_BUILD_COMMIT : process.env.RG_BUILD_COMMIT?.trim() || 'unknown',
};
