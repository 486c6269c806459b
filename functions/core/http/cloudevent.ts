import * as z from 'zod/mini';
import { InvalidEventError } from '../errors.ts';

/**
 * CloudEvents 1.0 over HTTP, binary and structured mode, as a pure function of `{headers, body}`.
 * The attributes are validated here (the SDK does not validate on parse); the data is validated
 * by each function's own schema.
 */
export const CloudEventSchema = z.looseObject({
  specversion: z.literal('1.0', { message: 'specversion must be "1.0"' }),
  id: z.string({ message: 'id is required' }).check(z.minLength(1, 'id is required')),
  source: z.string({ message: 'source is required' }).check(z.minLength(1, 'source is required')),
  type: z.string({ message: 'type is required' }).check(z.minLength(1, 'type is required')),
  subject: z.optional(z.string()),
  time: z.optional(z.string()),
  datacontenttype: z.optional(z.string()),
  dataschema: z.optional(z.string()),
  data: z.optional(z.unknown()),
});
export type CloudEvent = z.infer<typeof CloudEventSchema>;

export interface HttpMessage {
  headers: Record<string, string | undefined>;
  body: string;
}

const isJson = (ct: string | undefined) => !ct || /^application\/([a-z0-9.+-]*\+)?json(\s*;|$)/i.test(ct);

/** Lower-cased header lookup over a plain record. */
export function lowerHeaders(
  h: Record<string, string | string[] | undefined> | Headers,
): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = {};
  if (h instanceof Headers) {
    for (const [k, v] of h) out[k.toLowerCase()] = v;
    return out;
  }
  for (const [k, v] of Object.entries(h as Record<string, string | string[] | undefined>)) {
    out[k.toLowerCase()] = Array.isArray(v) ? v.join(',') : v;
  }
  return out;
}

function parseJson(text: string, what: string): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new InvalidEventError(`${what} is not valid JSON: ${(e as Error).message}`, {
      hint: 'send the CloudEvent data as JSON (content-type application/json)',
    });
  }
}

function validate(candidate: Record<string, unknown>): CloudEvent {
  const r = CloudEventSchema.safeParse(candidate);
  if (!r.success) {
    throw new InvalidEventError(`not a valid CloudEvent: ${r.error.issues.map((i) => i.message).join('; ')}`, {
      hint: 'send a CloudEvents 1.0 event in binary mode (ce-* headers) or structured mode (application/cloudevents+json)',
    });
  }
  return r.data;
}

/** Parses one CloudEvent from an HTTP request. Throws InvalidEventError with a reason. */
export function parseCloudEvent(msg: HttpMessage): CloudEvent {
  const headers = lowerHeaders(msg.headers);
  const ct = headers['content-type'];
  if (ct && /^application\/cloudevents-batch\+json/i.test(ct)) {
    throw new InvalidEventError('batched CloudEvents are not accepted on this route', {
      hint: 'send one event per request (binary or structured mode)',
    });
  }
  if (ct && /^application\/cloudevents\+json/i.test(ct)) {
    const obj = parseJson(msg.body, 'structured CloudEvent');
    if (!obj || typeof obj !== 'object' || Array.isArray(obj)) {
      throw new InvalidEventError('structured CloudEvent must be a JSON object');
    }
    const o = obj as Record<string, unknown>;
    if (o.data === undefined && typeof o.data_base64 === 'string') {
      const text = Buffer.from(o.data_base64, 'base64').toString('utf8');
      o.data = isJson(o.datacontenttype as string | undefined) ? parseJson(text, 'data_base64') : text;
      delete o.data_base64;
    }
    return validate(o);
  }
  if (!headers['ce-specversion'] && !headers['ce-id'] && !headers['ce-type']) {
    throw new InvalidEventError(
      'the request is not a CloudEvent: no ce-* headers and not application/cloudevents+json',
      {
        hint: 'send a CloudEvents 1.0 event in binary mode (ce-* headers) or structured mode (application/cloudevents+json)',
      },
    );
  }
  const attrs: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(headers)) {
    if (k.startsWith('ce-') && v !== undefined) attrs[k.slice(3)] = safeDecode(v);
  }
  if (ct) attrs.datacontenttype = ct;
  if (msg.body.length > 0) attrs.data = isJson(ct) ? parseJson(msg.body, 'CloudEvent data') : msg.body;
  return validate(attrs);
}

function safeDecode(v: string): string {
  try {
    return decodeURIComponent(v);
  } catch {
    return v;
  }
}

/** Binary-mode encoding of a reply event. */
export function toBinary(ev: CloudEvent): { headers: Record<string, string>; body: string } {
  const headers: Record<string, string> = { 'content-type': ev.datacontenttype ?? 'application/json' };
  for (const [k, v] of Object.entries(ev)) {
    if (k === 'data' || k === 'datacontenttype' || v === undefined) continue;
    headers[`ce-${k}`] = encodeHeader(String(v));
  }
  return { headers, body: ev.data === undefined ? '' : JSON.stringify(ev.data) };
}

/** Structured-mode encoding (what recordings and fixtures use). */
export function toStructured(ev: CloudEvent): { headers: Record<string, string>; body: string } {
  return { headers: { 'content-type': 'application/cloudevents+json' }, body: JSON.stringify(ev) };
}

// Header values must be printable ASCII; percent-encode the rest (CloudEvents HTTP binding, 3.1.3.2:
// https://github.com/cloudevents/spec/blob/v1.0.2/cloudevents/bindings/http-protocol-binding.md#3132-http-header-values).
function encodeHeader(v: string): string {
  return v.replace(/[^\x20-\x7e]|%/g, (c) => encodeURIComponent(c));
}
