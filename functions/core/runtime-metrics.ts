/**
 * The process's own metrics, under the names the Prometheus client libraries use (prom-client's
 * default metrics for Node.js, the Go client's process collector), so stock Node.js dashboards and
 * alerts work: CPU seconds, resident and virtual memory, start time, open and maximum file
 * descriptors (Linux: /proc/self), V8 heap (whole and per space), event-loop delay, GC pauses,
 * active resources and the Node.js version. Read when /metrics is scraped; the event-loop and GC
 * monitors run once per process from the first scrape on (they keep no timer alive).
 */
import { readFileSync, readdirSync } from 'node:fs';
import type { ELDHistogram } from 'node:perf_hooks';

// node:perf_hooks and node:v8 add about 3 MB of RSS when loaded: loaded on the first scrape, never
// on a cold start that no one scrapes.
const perfHooks = () => process.getBuiltinModule('node:perf_hooks');
const v8 = () => process.getBuiltinModule('node:v8');

type Sample = [labels: Record<string, string>, value: number];
interface Family {
  name: string;
  help: string;
  type: 'counter' | 'gauge' | 'histogram';
  samples: Sample[];
}

const esc = (v: string) => v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
const fmt = (l: Record<string, string>) => {
  const e = Object.entries(l);
  return e.length ? `{${e.map(([k, v]) => `${k}="${esc(v)}"`).join(',')}}` : '';
};

/** The GC pause histogram's buckets (seconds), as prom-client has them. */
const GC_BUCKETS = [0.001, 0.01, 0.1, 1, 2, 5];
function gcKinds(): Record<number, string> {
  const { constants } = perfHooks();
  return {
    [constants.NODE_PERFORMANCE_GC_MINOR]: 'minor',
    [constants.NODE_PERFORMANCE_GC_MAJOR]: 'major',
    [constants.NODE_PERFORMANCE_GC_INCREMENTAL]: 'incremental',
    [constants.NODE_PERFORMANCE_GC_WEAKCB]: 'weakcb',
  };
}

/** Process-wide monitors, started once however many metric registries a process makes (tests make many). */
let monitors: {
  loop: ELDHistogram;
  gc: Map<string, { counts: number[]; sum: number; count: number }>;
} | null = null;

function startMonitors(): NonNullable<typeof monitors> {
  if (monitors) return monitors;
  const { PerformanceObserver, monitorEventLoopDelay } = perfHooks();
  const GC_KINDS = gcKinds();
  const loop = monitorEventLoopDelay({ resolution: 10 });
  loop.enable();
  const gc = new Map<string, { counts: number[]; sum: number; count: number }>();
  const observer = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      const kind = GC_KINDS[(e as unknown as { detail?: { kind?: number } }).detail?.kind ?? -1] ?? 'other';
      let h = gc.get(kind);
      if (!h) {
        h = { counts: GC_BUCKETS.map(() => 0), sum: 0, count: 0 };
        gc.set(kind, h);
      }
      const s = e.duration / 1000;
      for (let i = 0; i < GC_BUCKETS.length; i++) if (s <= GC_BUCKETS[i]!) h.counts[i]!++;
      h.sum += s;
      h.count++;
    }
  });
  observer.observe({ entryTypes: ['gc'] });
  monitors = { loop, gc };
  return monitors;
}

/** Linux only: numbers read from /proc/self; null elsewhere (the metric is then left out). */
function procStat(): { vsize: number } | null {
  try {
    // Fields after the command name (which may hold spaces, inside parentheses); vsize is field 23.
    const s = readFileSync('/proc/self/stat', 'utf8');
    const rest = s.slice(s.lastIndexOf(')') + 2).split(' ');
    const vsize = Number(rest[20]);
    return Number.isFinite(vsize) ? { vsize } : null;
  } catch {
    return null;
  }
}

function openFds(): number | null {
  try {
    // The listing's own descriptor is in it.
    return readdirSync('/proc/self/fd').length - 1;
  } catch {
    return null;
  }
}

let maxFdsCache: number | null | undefined;
function maxFds(): number | null {
  if (maxFdsCache !== undefined) return maxFdsCache;
  try {
    const m = /^Max open files\s+(\d+)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
    maxFdsCache = m ? Number(m[1]) : null;
  } catch {
    maxFdsCache = null;
  }
  return maxFdsCache;
}

/**
 * A renderer of the runtime metrics. The process-wide monitors start on the first scrape, not at
 * start-up (a cold start pays nothing for them): event-loop delay and GC pauses count from then on.
 */
export function runtimeMetrics(): { render(): string[] } {
  return {
    render(): string[] {
      const mon = startMonitors();
      const families: Family[] = [];
      const add = (name: string, help: string, type: Family['type'], samples: Sample[]) =>
        families.push({ name, help, type, samples });
      const g = (name: string, help: string, v: number | null, labels: Record<string, string> = {}) => {
        if (v !== null && Number.isFinite(v)) add(name, help, 'gauge', [[labels, v]]);
      };

      const cpu = process.cpuUsage();
      add('process_cpu_user_seconds_total', 'User CPU time spent in seconds.', 'counter', [[{}, cpu.user / 1e6]]);
      add('process_cpu_system_seconds_total', 'System CPU time spent in seconds.', 'counter', [[{}, cpu.system / 1e6]]);
      add('process_cpu_seconds_total', 'Total user and system CPU time spent in seconds.', 'counter', [
        [{}, (cpu.user + cpu.system) / 1e6],
      ]);
      g(
        'process_start_time_seconds',
        'Start time of the process since unix epoch in seconds.',
        performance.timeOrigin / 1000,
      );
      const mem = process.memoryUsage();
      g('process_resident_memory_bytes', 'Resident memory size in bytes.', mem.rss);
      g('process_virtual_memory_bytes', 'Virtual memory size in bytes.', procStat()?.vsize ?? null);
      g('process_open_fds', 'Number of open file descriptors.', openFds());
      g('process_max_fds', 'Maximum number of open file descriptors.', maxFds());

      g('nodejs_heap_size_total_bytes', 'Process heap size from Node.js in bytes.', mem.heapTotal);
      g('nodejs_heap_size_used_bytes', 'Process heap size used from Node.js in bytes.', mem.heapUsed);
      g('nodejs_external_memory_bytes', 'Node.js external memory size in bytes.', mem.external);
      const spaces = v8().getHeapSpaceStatistics();
      const space = (name: string, help: string, pick: (s: (typeof spaces)[number]) => number) =>
        add(
          name,
          help,
          'gauge',
          spaces.map((s) => [{ space: s.space_name.replace(/_space$/, '') }, pick(s)]),
        );
      space(
        'nodejs_heap_space_size_total_bytes',
        'Process heap space size total from Node.js in bytes.',
        (s) => s.space_size,
      );
      space(
        'nodejs_heap_space_size_used_bytes',
        'Process heap space size used from Node.js in bytes.',
        (s) => s.space_used_size,
      );
      space(
        'nodejs_heap_space_size_available_bytes',
        'Process heap space size available from Node.js in bytes.',
        (s) => s.space_available_size,
      );

      // Event-loop delay since the previous scrape (the monitor is reset after each), in seconds; no
      // sample when the monitor has none yet.
      const loop = mon.loop;
      const sampled = loop.count > 0;
      const lag = (name: string, help: string, ns: () => number) =>
        add(name, help, 'gauge', sampled ? [[{}, ns() / 1e9]] : []);
      lag('nodejs_eventloop_lag_min_seconds', 'The minimum recorded event loop delay.', () => loop.min);
      lag('nodejs_eventloop_lag_max_seconds', 'The maximum recorded event loop delay.', () => loop.max);
      lag('nodejs_eventloop_lag_mean_seconds', 'The mean of the recorded event loop delays.', () => loop.mean);
      lag(
        'nodejs_eventloop_lag_stddev_seconds',
        'The standard deviation of the recorded event loop delays.',
        () => loop.stddev,
      );
      for (const p of [50, 90, 99])
        lag(`nodejs_eventloop_lag_p${p}_seconds`, `The ${p}th percentile of the recorded event loop delays.`, () =>
          loop.percentile(p),
        );
      if (sampled) loop.reset();

      const resources = new Map<string, number>();
      for (const r of process.getActiveResourcesInfo()) resources.set(r, (resources.get(r) ?? 0) + 1);
      add(
        'nodejs_active_resources',
        'Number of active resources that are currently keeping the event loop alive, grouped by async resource type.',
        'gauge',
        [...resources].map(([type, n]) => [{ type }, n]),
      );
      g(
        'nodejs_active_resources_total',
        'Total number of active resources.',
        [...resources.values()].reduce((a, b) => a + b, 0),
      );

      const [major = '', minor = '', patch = ''] = process.versions.node.split('.');
      g('nodejs_version_info', 'Node.js version info.', 1, { version: process.version, major, minor, patch });

      const out: string[] = [];
      for (const f of families) {
        out.push(`# HELP ${f.name} ${f.help}`, `# TYPE ${f.name} ${f.type}`);
        for (const [l, v] of f.samples) out.push(`${f.name}${fmt(l)} ${v}`);
      }
      out.push(
        '# HELP nodejs_gc_duration_seconds Garbage collection duration by kind, one of major, minor, incremental or weakcb.',
        '# TYPE nodejs_gc_duration_seconds histogram',
      );
      for (const [kind, h] of mon.gc) {
        for (const [i, b] of GC_BUCKETS.entries())
          out.push(`nodejs_gc_duration_seconds_bucket${fmt({ kind, le: String(b) })} ${h.counts[i]}`);
        out.push(`nodejs_gc_duration_seconds_bucket${fmt({ kind, le: '+Inf' })} ${h.count}`);
        out.push(`nodejs_gc_duration_seconds_sum${fmt({ kind })} ${h.sum}`);
        out.push(`nodejs_gc_duration_seconds_count${fmt({ kind })} ${h.count}`);
      }
      return out;
    },
  };
}
