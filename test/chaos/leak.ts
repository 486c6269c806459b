/**
 * A leak on purpose, for `npm run chaos -- --break=leak-memory` only: loaded into the chaos replicas
 * with `--import` (never into a pod, never by the shipped bundle), it keeps 64 KB of JavaScript heap
 * for every HTTP request the replica serves, so the memory invariant must report it.
 */
import { subscribe } from 'node:diagnostics_channel';

const kept: number[][] = [];
subscribe('http.server.request.start', () => {
  kept.push(new Array<number>(8192).fill(kept.length));
});
