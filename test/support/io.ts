/** A CLI's stdout and stderr, captured (the CLIs take `io` with `write`). */
export function captureIo() {
  let out = '';
  let err = '';
  return {
    io: { stdout: { write: (s: string) => (out += s) }, stderr: { write: (s: string) => (err += s) } },
    out: () => out,
    err: () => err,
  };
}
