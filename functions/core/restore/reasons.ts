import * as z from 'zod/mini';

/** Failure reasons, one vocabulary everywhere (README, Failure reasons). */
export const REASONS = [
  'Error',
  'OOMKilled',
  'Evicted',
  'Preempted',
  'NodeLost',
  'DeadlineExceeded',
  'ImagePullFailed',
  'ConfigError',
  'InitFailed',
  'Deleted',
  'BackoffLimitExceeded',
  'PodFailurePolicy',
  'Unknown',
] as const;
export const ReasonSchema = z.enum(REASONS);
export type Reason = z.infer<typeof ReasonSchema>;

/** The retry policy's two lists, as configured (RG_RETRYABLE_REASONS, RG_NON_RETRYABLE_EXIT_CODES). */
export interface RetryPolicy {
  RG_RETRYABLE_REASONS: readonly Reason[];
  RG_NON_RETRYABLE_EXIT_CODES: readonly number[];
}

/** Infrastructure failures: the restore never got to fail on its own. Retried at once. */
export const INFRASTRUCTURE: readonly Reason[] = ['Evicted', 'Preempted', 'NodeLost', 'Deleted'];

/**
 * Is a failure with this reason worth another attempt? `Error` is, unless its exit code is in the
 * non-retryable set; OOMKilled, ImagePullFailed and ConfigError are not by default (the same
 * inputs fail the same way). Both lists are configuration.
 */
export function isRetryable(policy: RetryPolicy, reason: Reason, exitCode: number | null): boolean {
  if (!policy.RG_RETRYABLE_REASONS.includes(reason)) return false;
  if (reason === 'Error' && exitCode !== null && policy.RG_NON_RETRYABLE_EXIT_CODES.includes(exitCode)) return false;
  return true;
}
