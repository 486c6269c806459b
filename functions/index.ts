/**
 * restore-guard's process: every function on one port (PORT, default 8080).
 * `npm start` runs the bundle built from this file (dist/server.js); `npm run dev` runs it as is.
 */
import { serve } from '@hono/node-server';
import type { Config } from './core/config.ts';
import type { IssuerKeys } from './core/http/auth.ts';
import { loadConfig } from './core/config.ts';
import { isRestoreGuardError } from './core/errors.ts';
import { SERVER_TIMEOUTS } from './core/http/app.ts';
import { createLogger } from './core/log.ts';
import { FUNCTIONS, createServer } from './server.ts';

const boot = createLogger();
let config: Config;
try {
  config = loadConfig();
} catch (e) {
  boot.error(isRestoreGuardError(e) ? e.message : String(e), isRestoreGuardError(e) ? { hint: e.hint } : {});
  process.exit(2);
}
const log = createLogger({ level: config.LOG_LEVEL });
let kube: Promise<typeof import('./core/kube/rest-cluster.ts')> | null = null;
const loadKube = () => {
  kube ??= import('./core/kube/rest-cluster.ts').catch((e: unknown) => {
    kube = null; // the next event tries again (and reports the failure)
    throw e;
  });
  return kube;
};
let server: ReturnType<typeof createServer>;
try {
  server = createServer({
    config,
    log,
    // Not on the way to readiness: the Kubernetes client is loaded once the first request (the
    // readiness probe) is answered, and an event that needs the cluster before then waits for it.
    connect: async () => (await loadKube()).connectCluster(config.KUBECONFIG),
    // RG_AUTH=oidc: the ServiceAccount issuer's keys, read from the API server (core/http/auth.ts).
    issuerKeys: async () => {
      const { connectApiServer } = await loadKube();
      const { readIssuerKeys } = await import('./core/kube/issuer.ts');
      return readIssuerKeys((await connectApiServer(config.KUBECONFIG)).request) as Promise<IssuerKeys>;
    },
  });
} catch (e) {
  // A folder named in the configuration that cannot be used: a named error, not a stack trace.
  if (!isRestoreGuardError(e)) throw e;
  boot.error(e.message, { hint: e.hint });
  process.exit(2);
}
const http = serve(
  {
    fetch: (req, env) => {
      // Right after readiness, off the start's path: the client chunk (about 2 MB) takes a few
      // hundred ms to load on a cold start, which would otherwise fall on the first cluster call.
      if (!kube) setTimeout(() => void loadKube().catch(() => {}), 0);
      return server.app.fetch(req, env);
    },
    port: config.PORT,
    hostname: config.HOST,
    serverOptions: { headersTimeout: SERVER_TIMEOUTS.headersMs, requestTimeout: SERVER_TIMEOUTS.requestMs },
  },
  (info) => {
    log.info('restore-guard listening', {
      host: config.HOST,
      port: info.port,
      functions: FUNCTIONS.map((f) => `/${f.name}`),
      profiles: config.RG_PROFILES,
      dryRun: config.RG_DRY_RUN,
      localBroker: config.RG_LOCAL_BROKER,
      recordDir: config.RG_RECORD_DIR || null,
      maxInFlight: config.RG_MAX_IN_FLIGHT,
      auth:
        config.RG_AUTH === 'oidc' ? { audience: config.RG_AUTH_AUDIENCE, subjects: config.RG_AUTH_SUBJECTS } : 'none',
    });
  },
);
http.setTimeout(SERVER_TIMEOUTS.socketMs);
const stop = (signal: string) => {
  log.info('shutting down', { signal });
  http.close(() => void server.flush().then(() => process.exit(0)));
  setTimeout(() => process.exit(0), 5000).unref();
};
process.on('SIGTERM', () => stop('SIGTERM'));
process.on('SIGINT', () => stop('SIGINT'));
