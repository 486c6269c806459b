/**
 * Typed error family. Every error a route can meet maps to one HTTP status, chosen for how
 * Knative delivery treats it (README, Routes and events): 400/401/403/413/422 are permanent (not redelivered),
 * 429 and 5xx are transient (redelivered). 404 and 409 are never used for permanent answers.
 */
export abstract class RestoreGuardError extends Error {
  abstract readonly status: number;
  abstract readonly code: string;
  /** What the operator should do next; shown in logs and in the JSON error body. */
  readonly hint: string | undefined;
  readonly details: Record<string, unknown> | undefined;
  constructor(message: string, opts: { hint?: string; details?: Record<string, unknown>; cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = new.target.name;
    this.hint = opts.hint;
    this.details = opts.details;
  }
  toJSON(): Record<string, unknown> {
    return {
      error: this.code,
      message: this.message,
      ...(this.hint ? { hint: this.hint } : {}),
      ...(this.details ? { details: this.details } : {}),
    };
  }
}

/** The request is not a CloudEvent we can read (missing attributes, bad JSON, bad mode). */
export class InvalidEventError extends RestoreGuardError {
  readonly status = 400;
  readonly code = 'invalid_event';
}

/** The body is larger than the configured limit. */
export class PayloadTooLargeError extends RestoreGuardError {
  readonly status = 413;
  readonly code = 'payload_too_large';
}

/** A write was refused because its target is neither a selected restore object nor our anchor. */
export class RefusedWriteError extends RestoreGuardError {
  readonly status = 422;
  readonly code = 'refused_write';
}

/** More events are in flight than RG_MAX_IN_FLIGHT allows: the sender redelivers later. */
export class OverloadedError extends RestoreGuardError {
  readonly status = 503;
  readonly code = 'overloaded';
}

/** The request carries no valid bearer token for restore-guard's audience (RG_AUTH=oidc): never redelivered. */
export class UnauthenticatedError extends RestoreGuardError {
  readonly status = 401;
  readonly code = 'unauthenticated';
}

/** The token is valid but its subject is not an allowed sender (RG_AUTH_SUBJECTS): never redelivered. */
export class ForbiddenSenderError extends RestoreGuardError {
  readonly status = 403;
  readonly code = 'forbidden_sender';
}

/** The keys that verify senders' tokens cannot be had now (API server unreachable): redelivered. */
export class AuthUnavailableError extends RestoreGuardError {
  readonly status = 503;
  readonly code = 'auth_unavailable';
}

/** The function needs the API server but none is configured. */
export class ClusterUnavailableError extends RestoreGuardError {
  readonly status = 503;
  readonly code = 'cluster_unavailable';
}

/** The API server answered with a transient failure (5xx, 429, timeout, connection refused). */
export class TransientClusterError extends RestoreGuardError {
  readonly status = 503;
  readonly code = 'cluster_transient';
}

/** The API server refused the request for good (403 forbidden, 422 invalid, ...). */
export class ClusterRequestError extends RestoreGuardError {
  readonly status = 500;
  readonly code = 'cluster_request_failed';
}

/**
 * A live object the API server returned does not have the shape restore-guard reads (a Pod or Job
 * without spec, say). Never treated as absent: that would skip a check a write depends on.
 */
export class InvalidObjectError extends RestoreGuardError {
  readonly status = 500;
  readonly code = 'invalid_object';
}

/** Configuration from the environment is invalid. Thrown at start, never per request. */
export class ConfigError extends RestoreGuardError {
  readonly status = 500;
  readonly code = 'config_invalid';
}

/** The API server answered 409 to a write with a resourceVersion precondition: someone wrote first. */
export function isConflict(e: unknown): boolean {
  return e instanceof TransientClusterError && e.details?.status === 409;
}

export function isRestoreGuardError(e: unknown): e is RestoreGuardError {
  return e instanceof RestoreGuardError;
}
