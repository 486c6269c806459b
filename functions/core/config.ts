import * as z from 'zod/mini';
import { ConfigError } from './errors.ts';
import { ReasonSchema } from './restore/reasons.ts';

const bool = (def: boolean) =>
  z.pipe(
    z._default(
      z.enum(['true', 'false', '1', '0', 'yes', 'no'], { message: 'expected true or false' }),
      def ? 'true' : 'false',
    ),
    z.transform((v) => v === 'true' || v === '1' || v === 'yes'),
  );
const int = (def: number, min: number, max: number) =>
  z._default(
    z.pipe(
      z.coerce.number({ message: 'expected a whole number' }),
      z.int({ message: 'expected a whole number' }).check(z.minimum(min), z.maximum(max)),
    ),
    def,
  );
const list = (def: string) =>
  z.pipe(
    z._default(z.string(), def),
    z.transform((v) =>
      v
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean),
    ),
  );
const quantity = z
  .string()
  .check(z.regex(/^[0-9]+(\.[0-9]+)?(m|Ki|Mi|Gi|k|M|G)?$/, 'expected a Kubernetes quantity such as 1m or 4Mi'));

/**
 * Every setting, read from the environment. Names are RG_* except PORT, HOST, KUBECONFIG and LOG_LEVEL.
 * README's configuration table is this schema in prose; keep them together.
 */
export const ConfigSchema = z.object({
  PORT: int(8080, 1, 65535),
  HOST: z._default(z.string().check(z.minLength(1)), '0.0.0.0'),
  LOG_LEVEL: z._default(
    z.enum(['debug', 'info', 'warn', 'error'], { message: 'expected debug, info, warn or error' }),
    'info',
  ),
  RG_PROFILES: z.pipe(
    list('kubeblocks,generic'),
    z
      .array(z.enum(['kubeblocks', 'generic'], { message: 'profiles are kubeblocks and generic' }))
      .check(z.minLength(1)),
  ),
  RG_DOMAIN: z._default(
    z.string().check(z.regex(/^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$/, 'expected a DNS domain such as restoreguard.dev')),
    'restoreguard.dev',
  ),
  RG_GENERIC_RESTORE_CONTAINERS: list(''),
  RG_HELPER_CONTAINERS: list('restore-manager'),
  RG_ANCHOR_IMAGE: z._default(z.string().check(z.minLength(1)), 'registry.k8s.io/pause:3.10'),
  // The anchors' lease: resync renews it while the group is in flight; without restore-guard it lapses.
  RG_ANCHOR_DEADLINE_SECONDS: int(600, 120, 7 * 24 * 3600),
  RG_ANCHOR_CPU: z._default(quantity, '1m'),
  RG_ANCHOR_MEMORY: z._default(quantity, '8Mi'),
  // A Kubernetes Event (AnchorCreated) on the restore's Job (KubeBlocks: its Restore) for each anchor made.
  RG_ANCHOR_EVENTS: bool(true),
  // The anchors' PriorityClass; empty: the restore pod's own (README, Configuration: why set one).
  RG_ANCHOR_PRIORITY_CLASS: z._default(
    z
      .string()
      .check(
        z.regex(
          /^$|^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/,
          'expected the name of a PriorityClass (a DNS subdomain) or nothing',
        ),
        z.maxLength(253),
      ),
    '',
  ),
  RG_NON_RETRYABLE_EXIT_CODES: z.pipe(
    list('126,127'),
    z.array(
      z.pipe(
        z.pipe(
          z.string().check(z.regex(/^[0-9]{1,3}$/, 'exit codes are whole numbers from 0 to 255')),
          z.transform(Number),
        ),
        z.int().check(z.maximum(255, 'exit codes are whole numbers from 0 to 255')),
      ),
    ),
  ),
  RG_RETRYABLE_REASONS: z.pipe(
    list('Error,Evicted,Preempted,NodeLost,Deleted,DeadlineExceeded,BackoffLimitExceeded,Unknown'),
    z.array(ReasonSchema),
  ),
  RG_IMAGE_PULL_GRACE_SECONDS: int(300, 0, 86400),
  RG_RETRY_JOBS: bool(false),
  RG_RETRY_MAX_ATTEMPTS: int(3, 1, 100),
  // Retry waits for its backoff inside the request: kept well under Knative's request timeout (300 s default).
  RG_RETRY_BASE_MS: int(1000, 0, 240_000),
  RG_RETRY_MAX_MS: int(30_000, 0, 240_000),
  RG_RETRY_JITTER: z._default(z.coerce.number().check(z.minimum(0), z.maximum(1)), 0.2),
  RG_RETRY_AVOID: z._default(
    z.enum(['preferred', 'required', 'off'], { message: 'expected preferred, required or off' }),
    'preferred',
  ),
  RG_DELETE_FINISHED_PODS: bool(true),
  RG_DELETE_FINISHED_JOBS: bool(false),
  RG_LOG_TAIL_LINES: int(0, 0, 1000),
  RG_LOG_TAIL_BYTES: int(2048, 128, 16384),
  RG_NAMESPACES: list(''),
  RG_LOCAL_BROKER: bool(false),
  RG_EVENTING_DIR: z._default(z.string(), 'eventing'),
  RG_BROKER_TTL: int(255, 1, 1000),
  RG_DRY_RUN: bool(false),
  RG_RECORD_DIR: z._default(z.string(), ''),
  RG_RECORD_MAX_FILES: int(10_000, 1, 1_000_000),
  RG_MAX_BODY_BYTES: int(1024 * 1024, 1024, 64 * 1024 * 1024),
  RG_DEDUP_SIZE: int(4096, 0, 1_000_000),
  // Events handled at once; more are answered 503. func.yaml's containerConcurrency is the same number.
  RG_MAX_IN_FLIGHT: int(100, 1, 10_000),
  // Request body bytes held at once (declared lengths; RG_MAX_BODY_BYTES for a chunked body); more: 503.
  // With RG_MAX_IN_FLIGHT it keeps a flood of large bodies within func.yaml's memory limit.
  RG_MAX_BODY_BUFFER_BYTES: int(32 * 1024 * 1024, 1024 * 1024, 1024 * 1024 * 1024),
  // Sender authentication (README, Security): 'oidc' verifies every event's bearer token (a
  // ServiceAccount token Knative Eventing's OIDC feature sends) before the event is read; 'none' takes
  // any sender (local runs, clusters without Knative's authentication-oidc).
  RG_AUTH: z._default(z.enum(['oidc', 'none'], { message: 'expected oidc or none' }), 'oidc'),
  // The audience the token must be for: each Trigger's spec.subscriber.audience (eventing/triggers.yaml).
  RG_AUTH_AUDIENCE: z._default(
    z.string().check(z.minLength(1)),
    'serving.knative.dev/service/restore-guard/restore-guard',
  ),
  // The token's issuer; empty: the API server's own (its /.well-known/openid-configuration).
  RG_AUTH_ISSUER: z._default(z.string(), ''),
  // Subjects allowed to send (a '*' matches any run of characters): by default the OIDC identities
  // Knative Eventing gives restore-guard's Triggers (<trigger>-oidc-eventing.knative.dev-trigger).
  RG_AUTH_SUBJECTS: z.pipe(
    list('system:serviceaccount:restore-guard:restore-guard-*-oidc-eventing.knative.dev-trigger'),
    z.array(z.string()).check(z.minLength(1, 'name at least one allowed subject')),
  ),
  KUBECONFIG: z.optional(z.string()),
});
export type Config = z.infer<typeof ConfigSchema>;

/**
 * Reads the configuration. Throws ConfigError naming each bad variable and what it allows, so a
 * pod that is misconfigured fails at start with a message that says what to fix.
 */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const input: Record<string, string> = {};
  for (const key of Object.keys(ConfigSchema.shape)) {
    const v = env[key];
    if (v !== undefined && v !== '') input[key] = v;
  }
  const parsed = ConfigSchema.safeParse(input);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => {
      const name = String(i.path[0] ?? '?');
      return `${name}=${JSON.stringify(input[name] ?? '')}: ${i.message}`;
    });
    throw new ConfigError(`invalid configuration: ${problems.join('; ')}`, {
      hint: 'fix the named environment variables (see README, Configuration) and start again',
      details: { problems },
    });
  }
  return parsed.data;
}
