// A tiny Kubernetes REST client on node:https, enough for the rig and its tests.
import * as https from 'node:https';
import * as http from 'node:http';

export interface Credentials {
  ca?: Buffer | undefined;
  cert?: Buffer | undefined;
  key?: Buffer | undefined;
  token?: string | undefined;
  /** skip server certificate verification (self-signed scheduler/controller-manager ports) */
  insecure?: boolean | undefined;
}

export interface Reply {
  status: number;
  text: string;
  /** parsed JSON body, or undefined when the body is not JSON */
  json: any;
}

export function request(
  url: string,
  creds: Credentials,
  method = 'GET',
  body?: unknown,
  contentType = 'application/json',
  timeoutMs = 10_000,
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const data = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
    const headers: Record<string, string> = { Accept: 'application/json' };
    if (data !== undefined) {
      headers['Content-Type'] = contentType;
      headers['Content-Length'] = String(Buffer.byteLength(data));
    }
    if (creds.token) headers.Authorization = `Bearer ${creds.token}`;
    const opts: https.RequestOptions = {
      method,
      headers,
      hostname: u.hostname,
      port: u.port,
      path: u.pathname + u.search,
      timeout: timeoutMs,
    };
    const onRes = (res: http.IncomingMessage): void => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let json: any;
        try {
          json = JSON.parse(text);
        } catch {
          json = undefined;
        }
        resolve({ status: res.statusCode ?? 0, text, json });
      });
      res.on('error', reject);
    };
    let req: http.ClientRequest;
    if (u.protocol === 'https:') {
      req = https.request(
        {
          ...opts,
          ca: creds.ca,
          cert: creds.cert,
          key: creds.key,
          rejectUnauthorized: !creds.insecure,
          agent: false,
        },
        onRes,
      );
    } else {
      req = http.request({ ...opts, agent: false }, onRes);
    }
    req.on('timeout', () => req.destroy(new Error(`timeout after ${timeoutMs}ms: ${method} ${url}`)));
    req.on('error', reject);
    if (data !== undefined) req.write(data);
    req.end();
  });
}

/** Kubernetes API client bound to one server and identity. */
export class Kube {
  readonly server: string;
  readonly creds: Credentials;

  constructor(server: string, creds: Credentials) {
    this.server = server;
    this.creds = creds;
  }

  async call(method: string, path: string, body?: unknown, contentType?: string): Promise<Reply> {
    return request(this.server + path, this.creds, method, body, contentType);
  }

  /** Like call, but throws unless the status is 2xx (or in `allow`). */
  async must(method: string, path: string, body?: unknown, allow: number[] = [], contentType?: string): Promise<any> {
    const r = await this.call(method, path, body, contentType);
    if ((r.status < 200 || r.status > 299) && !allow.includes(r.status)) {
      throw new Error(`${method} ${path}: HTTP ${r.status}: ${r.text.slice(0, 500)}`);
    }
    return r.json;
  }

  get(path: string): Promise<any> {
    return this.must('GET', path);
  }
  /** GET that answers undefined on 404. */
  async find(path: string): Promise<any> {
    const r = await this.call('GET', path);
    if (r.status === 404) return undefined;
    if (r.status < 200 || r.status > 299) throw new Error(`GET ${path}: HTTP ${r.status}: ${r.text.slice(0, 500)}`);
    return r.json;
  }
  post(path: string, body: unknown): Promise<any> {
    return this.must('POST', path, body);
  }
  /** POST that tolerates 409 AlreadyExists. */
  create(path: string, body: unknown): Promise<any> {
    return this.must('POST', path, body, [409]);
  }
  del(path: string): Promise<any> {
    return this.must('DELETE', path, undefined, [404]);
  }
  /** JSON merge patch. */
  patch(path: string, body: unknown): Promise<any> {
    return this.must('PATCH', path, body, [], 'application/merge-patch+json');
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Polls fn until it returns a value other than undefined/false, or throws after timeoutMs. */
export async function waitFor<T>(
  what: string,
  fn: () => Promise<T | undefined | false>,
  timeoutMs = 30_000,
  intervalMs = 200,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastErr: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined && v !== false) return v;
    } catch (e) {
      lastErr = e;
    }
    if (Date.now() > deadline) {
      throw new Error(
        `timed out after ${timeoutMs}ms waiting for ${what}` +
          (lastErr ? `; last error: ${String((lastErr as Error).message ?? lastErr)}` : ''),
      );
    }
    await sleep(intervalMs);
  }
}
