// npm run rig:build | rig:up | rig:down | rig:status
import { build, COMPONENTS, down, health, readState, up } from './rig.ts';
import { LOG_DIR } from './paths.ts';

async function main(): Promise<number> {
  const cmd = process.argv[2];
  switch (cmd) {
    case 'build': {
      build(process.argv.slice(3));
      return 0;
    }
    case 'up': {
      const t0 = Date.now();
      const r = await up();
      if (r.already) {
        console.log(`rig already up: ${r.state.server}`);
      } else {
        console.log(`rig up in ${Date.now() - t0} ms: ${r.state.server}`);
      }
      console.log(`admin kubeconfig: ${r.state.adminKubeconfig}`);
      console.log(`logs: ${LOG_DIR}`);
      return 0;
    }
    case 'down': {
      await down();
      return 0;
    }
    case 'status': {
      const state = readState();
      if (!state) {
        console.log('rig is down (no state file)');
        return 1;
      }
      const h = await health(state);
      let allOk = true;
      for (const c of COMPONENTS) {
        allOk &&= h[c];
        const port = c === 'etcd' ? state.ports.etcd : state.ports[c];
        console.log(
          `${h[c] ? 'ok  ' : 'DOWN'} ${c.padEnd(24)} pid ${String(state.pids[c] ?? '-').padEnd(8)} 127.0.0.1:${port}`,
        );
      }
      console.log(`server: ${state.server}`);
      console.log(`admin kubeconfig: ${state.adminKubeconfig}`);
      console.log(`started: ${state.startedAt} (took ${state.startMs} ms)`);
      console.log(allOk ? 'rig is up' : 'rig is NOT healthy');
      return allOk ? 0 : 1;
    }
    default:
      console.error('usage: node test/rig/cli.ts build [kube|etcd|kwok|adapter...] | up | down | status');
      return 2;
  }
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    console.error(e instanceof Error ? e.message : e);
    process.exit(1);
  },
);
