// Certificates and keys for the rig, made with the openssl CLI, kept in .rig/pki.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { PKI_DIR } from './paths.ts';

export interface Pki {
  dir: string;
  caCert: string;
  caKey: string;
  servingCert: string;
  servingKey: string;
  saKey: string;
  saPub: string;
  /** client certificates by name: admin (system:masters), scheduler, controller-manager */
  clients: Record<'admin' | 'scheduler' | 'controller-manager', { cert: string; key: string }>;
}

function openssl(args: string[]): void {
  execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

function file(name: string): string {
  return path.join(PKI_DIR, name);
}

function signed(name: string, subject: string, ext: string): void {
  const key = file(`${name}.key`);
  const csr = file(`${name}.csr`);
  const crt = file(`${name}.crt`);
  const extFile = file(`${name}.ext`);
  fs.writeFileSync(extFile, ext);
  openssl(['genrsa', '-out', key, '2048']);
  openssl(['req', '-new', '-key', key, '-subj', subject, '-out', csr]);
  openssl([
    'x509',
    '-req',
    '-in',
    csr,
    '-CA',
    file('ca.crt'),
    '-CAkey',
    file('ca.key'),
    '-CAcreateserial',
    '-days',
    '3650',
    '-sha256',
    '-extfile',
    extFile,
    '-out',
    crt,
  ]);
  fs.rmSync(csr, { force: true });
}

/** Creates the PKI once; later calls reuse it. */
export function ensurePki(): Pki {
  const pki: Pki = {
    dir: PKI_DIR,
    caCert: file('ca.crt'),
    caKey: file('ca.key'),
    servingCert: file('apiserver.crt'),
    servingKey: file('apiserver.key'),
    saKey: file('sa.key'),
    saPub: file('sa.pub'),
    clients: {
      admin: { cert: file('admin.crt'), key: file('admin.key') },
      scheduler: { cert: file('scheduler.crt'), key: file('scheduler.key') },
      'controller-manager': { cert: file('controller-manager.crt'), key: file('controller-manager.key') },
    },
  };
  const all = [
    pki.caCert,
    pki.caKey,
    pki.servingCert,
    pki.servingKey,
    pki.saKey,
    pki.saPub,
    ...Object.values(pki.clients).flatMap((c) => [c.cert, c.key]),
  ];
  if (all.every((f) => fs.existsSync(f))) return pki;

  fs.rmSync(PKI_DIR, { recursive: true, force: true });
  fs.mkdirSync(PKI_DIR, { recursive: true });
  openssl([
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    pki.caKey,
    '-out',
    pki.caCert,
    '-days',
    '3650',
    '-subj',
    '/CN=restore-guard-rig-ca',
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign,digitalSignature',
  ]);
  signed(
    'apiserver',
    '/CN=kube-apiserver',
    'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n' +
      'subjectAltName=IP:127.0.0.1,DNS:localhost,IP:10.0.0.1,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local\n',
  );
  const clientExt =
    'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n';
  signed('admin', '/O=system:masters/CN=rig-admin', clientExt);
  signed('scheduler', '/CN=system:kube-scheduler', clientExt);
  signed('controller-manager', '/CN=system:kube-controller-manager', clientExt);
  openssl(['genrsa', '-out', pki.saKey, '2048']);
  openssl(['rsa', '-in', pki.saKey, '-pubout', '-out', pki.saPub]);
  return pki;
}

function b64(f: string): string {
  return fs.readFileSync(f).toString('base64');
}

/** Kubeconfig text for a client certificate. */
export function certKubeconfig(server: string, pki: Pki, user: string, cert: string, key: string): string {
  return kubeconfigText(
    server,
    pki,
    user,
    `    client-certificate-data: ${b64(cert)}\n    client-key-data: ${b64(key)}\n`,
  );
}

/** Kubeconfig text for a bearer token. */
export function tokenKubeconfig(server: string, pki: Pki, user: string, token: string): string {
  return kubeconfigText(server, pki, user, `    token: ${token}\n`);
}

function kubeconfigText(server: string, pki: Pki, user: string, userBody: string): string {
  return `apiVersion: v1
kind: Config
clusters:
- name: rig
  cluster:
    server: ${server}
    certificate-authority-data: ${b64(pki.caCert)}
users:
- name: ${user}
  user:
${userBody}contexts:
- name: rig
  context:
    cluster: rig
    user: ${user}
current-context: rig
`;
}
